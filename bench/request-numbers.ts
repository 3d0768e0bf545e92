/**
 * The numbers a scenario's requests are built from, running on across every load of that
 * scenario in one bench process: its warm-up, its recorded window and each outbox round. A
 * number names a sale, a phone and a customer's name, so a load that started again at zero would
 * send the warm-up's sales again (answered "duplicate", a cheaper path than the one measured) and
 * create customers that pair with the warm-up's as duplicates.
 */
export function requestNumbers(): (scenario: string) => number {
  const next = new Map<string, number>()
  return (scenario) => {
    const number = next.get(scenario) ?? 0
    next.set(scenario, number + 1)
    return number
  }
}
