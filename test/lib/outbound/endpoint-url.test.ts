import t from 'tap'
import {
  checkEndpointUrl,
  resolveEndpoint,
  type OutboundPolicy,
} from '../../../lib/outbound/endpoint-url.js'
import { namesResolver, PUBLIC_ADDRESS, stubResolver } from './stubs.js'

const production = (): OutboundPolicy & { resolve: { calls: string[] } } => ({
  requirePublicHttps: true,
  resolve: namesResolver(),
})
const development = (): OutboundPolicy & { resolve: { calls: string[] } } => ({
  requirePublicHttps: false,
  resolve: namesResolver(),
})

const REFUSED_IN_PRODUCTION: [string, string][] = [
  ['http://public.example/hook', 'must use https'],
  ['ftp://public.example/hook', 'must use https'],
  ['https://127.0.0.1/hook', 'must be a public IP address'],
  ['https://10.0.0.1/hook', 'must be a public IP address'],
  ['https://[::1]/hook', 'must be a public IP address'],
  ['https://169.254.169.254/latest/meta-data', 'must be a public IP address'],
  ['https://[::ffff:127.0.0.1]/hook', 'must be a public IP address'],
  ['https://[fe80::1]/hook', 'must be a public IP address'],
  ['https://[fd00::1]/hook', 'must be a public IP address'],
  ['https://100.64.0.1/hook', 'must be a public IP address'],
  ['https://0.0.0.0/hook', 'must be a public IP address'],
  ['https://2130706433/hook', 'must be a public IP address'],
  ['https://0x7f.1/hook', 'must be a public IP address'],
  ['https://localhost/hook', 'must not point to localhost'],
  ['https://LOCALHOST./hook', 'must not point to localhost'],
  ['https://api.localhost/hook', 'must not point to localhost'],
  ['https://internal.example/hook', 'host name must resolve only to public addresses'],
  ['https://mixed.example/hook', 'host name must resolve only to public addresses'],
  ['https://nowhere.example/hook', 'host name does not resolve'],
  ['https://user:secret@public.example/hook', 'must not contain a user name or password'],
  ['https://token@public.example/hook', 'must not contain a user name or password'],
  ['/hook', 'must be an absolute URL'],
  ['not a url', 'must be an absolute URL'],
  [`https://public.example/${'a'.repeat(2048)}`, 'must be at most 2048 characters'],
]

t.test('production refuses every non-public or non-https URL', async (t) => {
  for (const [url, reason] of REFUSED_IN_PRODUCTION) {
    const label = url.slice(0, 60)
    t.same(await checkEndpointUrl(url, production()), { ok: false, reason }, `check ${label}`)
    t.same(await resolveEndpoint(url, production()), { ok: false, reason }, `resolve ${label}`)
  }
})

t.test('refusals never echo the URL, its credentials or a resolved address', async (t) => {
  for (const [url] of REFUSED_IN_PRODUCTION) {
    const refusal = await checkEndpointUrl(url, production())
    t.notMatch(refusal?.reason, /secret|token|10\.1\.2\.3|192\.168|example/, url.slice(0, 60))
  }
})

t.test('production accepts public https and pins the checked address', async (t) => {
  const policy = production()
  t.equal(await checkEndpointUrl('https://public.example/hook?x=1', policy), undefined)
  const pinned = await resolveEndpoint('https://public.example:8443/hook', policy)
  t.match(pinned, { ok: true, host: 'public.example', address: PUBLIC_ADDRESS })
  t.same(await resolveEndpoint(`https://${PUBLIC_ADDRESS}/hook`, policy), {
    ok: true,
    url: new URL(`https://${PUBLIC_ADDRESS}/hook`),
    host: PUBLIC_ADDRESS,
    address: PUBLIC_ADDRESS,
  })
  t.match(await resolveEndpoint('https://[2606:4700::1111]/hook', policy), {
    ok: true,
    host: '2606:4700::1111',
    address: '2606:4700::1111',
  })
  t.same(policy.resolve.calls, ['public.example', 'public.example'], 'literals are not looked up')
})

t.test('a name that turns private after registration is refused at send time', async (t) => {
  const policy = production()
  t.equal(await checkEndpointUrl('https://rebind.example/hook', policy), undefined, 'registered')
  t.same(await resolveEndpoint('https://rebind.example/hook', policy), {
    ok: false,
    reason: 'host name must resolve only to public addresses',
  })
})

t.test('a resolver answer that is not an address counts as not resolving', async (t) => {
  const policy: OutboundPolicy = {
    requirePublicHttps: true,
    resolve: stubResolver({ 'odd.example': [['public.example']] }),
  }
  t.same(await checkEndpointUrl('https://odd.example/', policy), {
    ok: false,
    reason: 'host name does not resolve',
  })
})

t.test(
  'development allows http and any address, but not credentials or other schemes',
  async (t) => {
    for (const url of [
      'http://127.0.0.1:3000/hook',
      'https://10.0.0.1/hook',
      'http://localhost/hook',
      'http://[::1]:8080/',
      'http://internal.example/hook',
      'http://nowhere.example/hook',
    ])
      t.equal(await checkEndpointUrl(url, development()), undefined, url)
    const refused: [string, string][] = [
      ['ftp://127.0.0.1/hook', 'must use http or https'],
      ['file:///etc/passwd', 'must use http or https'],
      ['javascript:alert(1)', 'must use http or https'],
      ['http://user:pass@127.0.0.1/hook', 'must not contain a user name or password'],
      ['127.0.0.1:3000/hook', 'must be an absolute URL'],
      ['localhost:3000/hook', 'must use http or https'],
      [`http://127.0.0.1/${'a'.repeat(2048)}`, 'must be at most 2048 characters'],
    ]
    for (const [url, reason] of refused)
      t.same(await checkEndpointUrl(url, development()), { ok: false, reason }, url.slice(0, 60))
  },
)

t.test('development registration looks nothing up; sending resolves and pins', async (t) => {
  const policy = development()
  t.equal(await checkEndpointUrl('http://internal.example/hook', policy), undefined)
  t.same(policy.resolve.calls, [], 'no lookup at registration')
  t.match(await resolveEndpoint('http://internal.example/hook', policy), {
    ok: true,
    address: '10.1.2.3',
  })
  t.same(await resolveEndpoint('http://nowhere.example/hook', policy), {
    ok: false,
    reason: 'host name does not resolve',
  })
})
