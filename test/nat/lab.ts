/**
 * A NAT lab in network namespaces, built by the tests themselves (same topology as ../shared/natlab/lab.sh):
 *   <p>pub bridge 198.18.0.0/24; <p>stun .10 + .11; <p>turn .20; <p>natA .101 / LAN 10.1.0.1; <p>natB .102 / 10.2.0.1;
 *   <p>hostA 10.1.0.2; <p>hostB 10.2.0.2. No veth touches the root namespace and no namespace has a default route.
 * In mode `none` a host also has the public address 198.18.<i>.2 (its router routes 198.18.<i>.0/24 to it, every
 * namespace on the public segment routes that /24 to the router). `addSecondHost()` adds hostA2 (10.3.0.2) on a second
 * LAN port of router A: two hosts behind one NAT.
 * Names start with `zn-` plus the test process id, so parallel runs never collide; `down()` removes everything.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'

/**
 * `none`: no NAT and no firewall; the host answers on a public address of its own (198.18.1.2 behind router A,
 * 198.18.2.2 behind B), routed by its router as a plain router. `cone-open`: a cone NAT without the inbound DROP.
 */
export type NatMode = 'cone' | 'full' | 'restricted' | 'symmetric' | 'cone-open' | 'none'

/** Whether this machine can build the NAT lab. With REQUIRE_NATLAB=1 (CI) the answer is always yes, so a machine that
 *  cannot build it fails the lab tests loudly instead of skipping them. */
export function canRunLab(): boolean {
  if (process.env.REQUIRE_NATLAB === '1') return true
  return labAvailable()
}

/** The real check: root, iptables and ip netns. */
export function labAvailable(): boolean {
  if (process.getuid?.() !== 0) return false
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore' })
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' })
    return true
  } catch { return false }
}

const run = (args: string[]): void => { execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] }) }

export class NatLab {
  readonly prefix: string
  constructor(tag: string) { this.prefix = `zn-${process.pid}${tag}-` }
  ns(name: 'pub' | 'stun' | 'turn' | 'natA' | 'natB' | 'hostA' | 'hostB' | 'hostA2'): string { return this.prefix + name }
  get all(): string[] { return (['pub', 'stun', 'turn', 'natA', 'natB', 'hostA', 'hostB', 'hostA2'] as const).map((n) => this.ns(n)) }
  x(ns: string, ...args: string[]): void { run(['ip', 'netns', 'exec', ns, ...args]) }

  up(a: NatMode, b: NatMode): void {
    this.down()
    for (const n of this.all.filter((x) => x !== this.ns('hostA2'))) { run(['ip', 'netns', 'add', n]); this.x(n, 'ip', 'link', 'set', 'lo', 'up') }
    const pub = this.ns('pub')
    this.x(pub, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
    this.x(pub, 'ip', 'link', 'set', 'br0', 'up')
    for (const [h, ip] of [['stun', 10], ['turn', 20], ['natA', 101], ['natB', 102]] as const) {
      run(['ip', '-n', pub, 'link', 'add', `p-${h}`, 'type', 'veth', 'peer', 'name', 'wan', 'netns', this.ns(h)])
      run(['ip', '-n', pub, 'link', 'set', `p-${h}`, 'master', 'br0', 'up'])
      run(['ip', '-n', this.ns(h), 'addr', 'add', `198.18.0.${ip}/24`, 'dev', 'wan'])
      run(['ip', '-n', this.ns(h), 'link', 'set', 'wan', 'up'])
    }
    run(['ip', '-n', this.ns('stun'), 'addr', 'add', '198.18.0.11/24', 'dev', 'wan'])
    for (const [s, i] of [['A', 1], ['B', 2]] as const) {
      const nat = this.ns(`nat${s}`), host = this.ns(`host${s}`)
      run(['ip', '-n', nat, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host])
      run(['ip', '-n', nat, 'addr', 'add', `10.${i}.0.1/24`, 'dev', 'lan'])
      run(['ip', '-n', nat, 'link', 'set', 'lan', 'up'])
      run(['ip', '-n', host, 'addr', 'add', `10.${i}.0.2/24`, 'dev', 'eth0'])
      run(['ip', '-n', host, 'link', 'set', 'eth0', 'up'])
      run(['ip', '-n', host, 'route', 'add', '198.18.0.0/15', 'via', `10.${i}.0.1`])
      this.x(nat, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
      // the host's public /24 (used in mode `none` only): on the router's LAN side, and via the router elsewhere
      run(['ip', '-n', nat, 'route', 'add', `198.18.${i}.0/24`, 'dev', 'lan'])
      for (const other of ['stun', 'turn', s === 'A' ? 'natB' : 'natA'] as const) {
        run(['ip', '-n', this.ns(other), 'route', 'add', `198.18.${i}.0/24`, 'via', `198.18.0.${100 + i}`])
      }
    }
    this.nat('A', a)
    this.nat('B', b)
  }

  /** (Re)configures one NAT router and flushes its conntrack table. */
  nat(side: 'A' | 'B', mode: NatMode): void {
    const n = this.ns(`nat${side}`)
    const i = side === 'A' ? 1 : 2
    const host = `10.${i}.0.2`
    const ipt = (...a: string[]): void => this.x(n, 'iptables', ...a)
    ipt('-t', 'nat', '-F'); ipt('-F')
    this.#publicAddress(side, mode === 'none')
    if (mode === 'none') {
      try { this.x(n, 'conntrack', '-F') } catch { /* empty table */ }
      return
    }
    if (mode !== 'cone-open') {
      ipt('-A', 'INPUT', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
      ipt('-A', 'INPUT', '-i', 'wan', '-j', 'DROP')
    }
    switch (mode) {
      case 'cone': case 'cone-open': ipt('-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE'); break
      case 'symmetric': ipt('-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', '--random-fully'); break
      case 'full': case 'restricted':
        ipt('-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE')
        ipt('-t', 'nat', '-A', 'PREROUTING', '-i', 'wan', '-p', 'udp', '-j', 'DNAT', '--to-destination', host)
        if (mode === 'restricted') {
          ipt('-A', 'FORWARD', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
          ipt('-A', 'FORWARD', '-o', 'wan', '-m', 'recent', '--name', 'out', '--rdest', '--set')
          ipt('-A', 'FORWARD', '-i', 'wan', '-m', 'recent', '--name', 'out', '--rsource', '--rcheck', '--seconds', '300', '-j', 'ACCEPT')
          ipt('-A', 'FORWARD', '-i', 'wan', '-j', 'DROP')
        }
        break
    }
    try { this.x(n, 'conntrack', '-F') } catch { /* empty table */ }
  }

  /**
   * Mode `none` on: the host gets 198.18.<i>.2 and sends from it (the route's preferred source), so a STUN server sees
   * one of its own addresses; off: the address is removed and the host sends from its LAN address again.
   */
  #publicAddress(side: 'A' | 'B', on: boolean): void {
    const i = side === 'A' ? 1 : 2
    const h = this.ns(`host${side}`)
    try { run(['ip', '-n', h, 'addr', 'del', `198.18.${i}.2/32`, 'dev', 'eth0']) } catch { /* not set */ }
    if (on) run(['ip', '-n', h, 'addr', 'add', `198.18.${i}.2/32`, 'dev', 'eth0'])
    run(['ip', '-n', h, 'route', 'replace', '198.18.0.0/15', 'via', `10.${i}.0.1`, ...(on ? ['src', `198.18.${i}.2`] : [])])
  }

  /**
   * A second host behind router A (namespace hostA2, 10.3.0.2 on a second LAN port 10.3.0.1/24): the NAT rules of A
   * (`-o wan`) apply to it as to hostA, and the two hosts reach each other's LAN addresses through the router.
   */
  addSecondHost(): string {
    const nat = this.ns('natA'), host = this.ns('hostA2')
    run(['ip', 'netns', 'add', host]); this.x(host, 'ip', 'link', 'set', 'lo', 'up')
    run(['ip', '-n', nat, 'link', 'add', 'lan2', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host])
    run(['ip', '-n', nat, 'addr', 'add', '10.3.0.1/24', 'dev', 'lan2'])
    run(['ip', '-n', nat, 'link', 'set', 'lan2', 'up'])
    run(['ip', '-n', host, 'addr', 'add', '10.3.0.2/24', 'dev', 'eth0'])
    run(['ip', '-n', host, 'link', 'set', 'eth0', 'up'])
    run(['ip', '-n', host, 'route', 'add', '198.18.0.0/15', 'via', '10.3.0.1'])
    run(['ip', '-n', host, 'route', 'add', '10.1.0.0/24', 'via', '10.3.0.1'])
    run(['ip', '-n', this.ns('hostA'), 'route', 'add', '10.3.0.0/24', 'via', '10.1.0.1'])
    return host
  }

  /** Drops UDP between the two NAT routers' public addresses (STUN/rendezvous stay reachable). */
  blockUdpBetweenNats(side: 'A' | 'B'): void {
    const n = this.ns(`nat${side}`)
    for (const ip of ['198.18.0.101', '198.18.0.102']) {
      this.x(n, 'iptables', '-I', 'FORWARD', '-p', 'udp', '-d', ip, '-j', 'DROP')
      this.x(n, 'iptables', '-I', 'FORWARD', '-p', 'udp', '-s', ip, '-j', 'DROP')
    }
  }

  /**
   * Loss and delay on one NAT's uplink (what `tc qdisc add dev wan root netem loss L% delay D ms` would do; netem is
   * not built into this kernel). Every packet the LAN sends out is policy-routed through a TUN device `imp` where
   * test/nat/impair.py drops (seeded) and delays it; the re-injected packets are the ones conntrack and the NAT rules
   * see, so the NAT's mapping and filtering behave as before. Resolves once the hop is attached.
   */
  async impair(side: 'A' | 'B', o: { lossPct: number; delayMs: number; seed: number }): Promise<ChildProcess> {
    const n = this.ns(`nat${side}`)
    const lan = side === 'A' ? '10.1.0.0/24' : '10.2.0.0/24'
    this.x(n, 'ip', 'tuntap', 'add', 'dev', 'imp', 'mode', 'tun')
    this.x(n, 'ip', 'link', 'set', 'imp', 'up')
    for (const k of ['all', 'default', 'imp', 'lan', 'wan']) this.x(n, 'sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=0`)
    this.x(n, 'ip', 'route', 'add', 'default', 'dev', 'imp', 'table', '100')
    // only the uplink direction (LAN -> WAN) goes through the hop: the other NAT's hop impairs the way back
    this.x(n, 'ip', 'rule', 'add', 'iif', 'lan', 'lookup', '100', 'pref', '100')
    // conntrack sees each packet once, on its way back from the hop (so MASQUERADE on -o wan applies as before)
    this.x(n, 'iptables', '-t', 'raw', '-A', 'PREROUTING', '-i', 'lan', '-j', 'CT', '--notrack')
    return this.#hop(n, ['imp', lan, String(o.lossPct), String(o.delayMs), String(o.seed)])
  }

  /**
   * A one-way delay on everything that reaches one NAT from the public segment, before its conntrack sees it: the
   * wire delay between two NATs on the Internet, which veths on one machine lack (their ~10 us leave no window for
   * two first packets to cross in flight; see src/nat/punch/sync.ts). UDP from the WAN is policy-routed (ahead of the
   * local table, so packets for the router itself too) through a TUN device `dly` where test/nat/impair.py holds every
   * packet `delayMs`; conntrack first sees a packet when it comes back out of the hop. Resolves once attached.
   */
  async delayWan(side: 'A' | 'B', delayMs: number): Promise<ChildProcess> {
    const n = this.ns(`nat${side}`)
    this.x(n, 'ip', 'tuntap', 'add', 'dev', 'dly', 'mode', 'tun')
    this.x(n, 'ip', 'link', 'set', 'dly', 'up')
    for (const k of ['all', 'default', 'dly', 'lan', 'wan']) this.x(n, 'sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=0`)
    this.x(n, 'ip', 'route', 'add', 'default', 'dev', 'dly', 'table', '101')
    this.x(n, 'ip', 'rule', 'add', 'pref', '50', 'lookup', 'local')
    this.x(n, 'ip', 'rule', 'del', 'pref', '0')
    // UDP only: ARP answers only for an address whose route lookup says local, so a rule for all of the WAN input
    // would make the router stop answering ARP for its own address (TCP, the rendezvous links, is not delayed)
    this.x(n, 'ip', 'rule', 'add', 'iif', 'wan', 'ipproto', 'udp', 'lookup', '101', 'pref', '10')
    this.x(n, 'iptables', '-t', 'raw', '-A', 'PREROUTING', '-i', 'wan', '-p', 'udp', '-j', 'CT', '--notrack')
    // every source counts as "uplink" for the hop: the whole WAN input is delayed, no loss
    return this.#hop(n, ['dly', '0.0.0.0/0', '0', String(delayMs), '1'])
  }

  async #hop(n: string, args: string[]): Promise<ChildProcess> {
    const here = fileURLToPath(import.meta.url)
    const script = here.endsWith('.ts') ? fileURLToPath(new URL('./impair.py', import.meta.url)) : fileURLToPath(new URL('../../../test/nat/impair.py', import.meta.url))
    const p = spawn('ip', ['netns', 'exec', n, 'python3', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    p.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000) })
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: p.stdout! }).once('line', (l) => (l === 'ready' ? resolve() : reject(new Error(`impair: ${l}`))))
      p.once('exit', (code) => reject(new Error(`impair exited ${code}: ${err}`)))
    })
    return p
  }

  /** Removes what impair() set up on one NAT (after its hop process ended). */
  unimpair(side: 'A' | 'B'): void {
    const n = this.ns(`nat${side}`)
    for (const pref of ['100']) { try { this.x(n, 'ip', 'rule', 'del', 'pref', pref) } catch { /* absent */ } }
    try { this.x(n, 'ip', 'route', 'flush', 'table', '100') } catch { /* empty */ }
    this.x(n, 'iptables', '-t', 'raw', '-F')
    try { this.x(n, 'ip', 'link', 'del', 'imp') } catch { /* absent */ }
    try { this.x(n, 'conntrack', '-F') } catch { /* empty table */ }
  }

  down(): void {
    for (const n of this.all) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', n], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split(/\s+/).filter(Boolean)
        for (const p of pids) { try { process.kill(Number(p), 'SIGKILL') } catch { /* gone */ } }
      } catch { /* no such namespace */ }
      try { run(['ip', 'netns', 'del', n]) } catch { /* absent */ }
    }
  }
}

/** A fixture process (test/nat/fixtures/agent) inside a namespace, driven by JSON lines. */
export class Agent {
  readonly proc: ChildProcess
  #next = 1
  readonly #waiting = new Map<number, { resolve(v: Record<string, unknown>): void; reject(e: Error): void }>()
  stderr = ''

  constructor(ns: string, name: string) {
    const here = fileURLToPath(import.meta.url)
    const ts = here.endsWith('.ts')
    const script = fileURLToPath(new URL(`./fixtures/agent.${ts ? 'ts' : 'js'}`, import.meta.url))
    const args = ['netns', 'exec', ns, process.execPath, ...(ts ? ['--import', 'tsx'] : []), script, name]
    this.proc = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    // NATLAB_LOG_DIR=dir keeps each agent's whole stderr (the node's log) in dir/NAME.log, for diagnosing a lab run
    const logDir = process.env.NATLAB_LOG_DIR
    const log = logDir ? createWriteStream(join(logDir, `${name}.log`), { flags: 'a' }) : undefined
    this.proc.stderr!.on('data', (d: Buffer) => { log?.write(d); this.stderr = (this.stderr + d.toString()).slice(-4000) })
    this.proc.once('exit', () => log?.end())
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let m: Record<string, unknown>
      try { m = JSON.parse(line) as Record<string, unknown> } catch { return }
      const w = this.#waiting.get(m.id as number)
      if (!w) return
      this.#waiting.delete(m.id as number)
      if (m.error) w.reject(new Error(`${name}: ${String(m.error)}`)); else w.resolve(m)
    })
    this.proc.on('exit', () => {
      for (const w of this.#waiting.values()) w.reject(new Error(`${name} exited: ${this.stderr}`))
      this.#waiting.clear()
    })
  }

  call(op: string, args: Record<string, unknown> = {}, timeoutMs = 90_000): Promise<Record<string, unknown>> {
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.#waiting.delete(id); reject(new Error(`${op} timed out; stderr: ${this.stderr}`)) }, timeoutMs)
      this.#waiting.set(id, {
        resolve: (v) => { clearTimeout(t); resolve(v) },
        reject: (e) => { clearTimeout(t); reject(e) },
      })
      this.proc.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n')
    })
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()))
    this.proc.stdin!.end()
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000) // time to stop its node and remove its temp dir
    await exited
    clearTimeout(t)
  }
}

/** The public rendezvous node's endpoints in the lab (STUN server role on .10/.11, relay on). */
export const LAB_RENDEZVOUS = { node: '198.18.0.10:7000', stun: '198.18.0.10:3478' } as const

/**
 * Brings the lab up (cone<->cone; callers switch modes with `lab.nat`), starts a rendezvous node with the STUN
 * server role and relaying on the public segment, and an agent on each host. Every agent is pushed onto `agents`
 * so the caller's `finally` can stop them. Returns the agents and the node config base hosts A and B start from.
 */
export async function startRendezvousLab(lab: NatLab, agents: Agent[], nat: Record<string, unknown>): Promise<{
  pub: Agent; a: Agent; b: Agent; boot: { node: Record<string, unknown>; nat: Record<string, unknown> }
}> {
  lab.up('cone', 'cone')
  const pub = new Agent(lab.ns('stun'), 'rendezvous'); agents.push(pub)
  const a = new Agent(lab.ns('hostA'), 'A'); agents.push(a)
  const b = new Agent(lab.ns('hostB'), 'B'); agents.push(b)
  const r = await pub.call('node-start', { config: {
    node: { host: '198.18.0.10', port: 7000 },
    // the lab's public segment is 198.18/15 (benchmarking, a 'reserved' class): a relay refuses such peers unless
    // told the network is a lab (relay.allowPrivatePeers), exactly as on a private network
    nat: { stunServer: { enabled: true, primary: LAB_RENDEZVOUS.stun, alternate: '198.18.0.11:3479' }, relay: { enabled: true, allowPrivatePeers: true } },
  } })
  const boot = { node: { host: '0.0.0.0', bootstrap: [LAB_RENDEZVOUS.node] }, nat: { ...nat, rendezvous: [r.nodeId] } }
  return { pub, a, b, boot }
}
