// Gas table: deployment of each contract and each operation, measured on the in-process EVM (EDR, Prague rules),
// with the baseline (a plain ERC-20 transfer) measured in the same run. Prints JSON. `npm run bench -- gas`.
import { encodeFunctionData, hexToBytes, keccak256, parseEther, toHex, type Abi, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { Identity } from '../src/crypto/identity.js'
import { artifact, loadArtifacts } from '../src/economy/chain/artifacts.js'
import { connect, write } from '../src/economy/chain/clients.js'
import { createEdrChain } from '../src/economy/chain/edr.js'
import { deployAll } from '../src/economy/chain/deploy.js'
import { signBinding } from '../src/economy/chain/binding.js'
import { signOnchainPart } from '../src/economy/chain/cheque-eip712.js'

const keys: Hex[] = Array.from({ length: 6 }, (_, i) => keccak256(toHex(`gas-bench-${i}`)))
const ZEO = (n: bigint) => n * 10n ** 18n

async function main(): Promise<void> {
  const arts = await loadArtifacts()
  const chain = await createEdrChain({ accounts: keys.map((privateKey) => ({ privateKey, balanceWei: parseEther('1000') })) })
  const cs = keys.map((privateKey) => connect({ provider: chain, chainId: 31337, privateKey }))
  const addr = (i: number): Address => privateKeyToAccount(keys[i]!).address
  const dep = await deployAll(cs[0]!, arts, { votingDelay: 1, votingPeriod: 100, timelockDelay: 1, unbondingDelay: 10, disputeWindow: 10, claimWindow: 1000, withdrawDelay: 10, keepDeployerAdmin: true, reporters: [addr(0)] })
  const abi = (n: string): Abi => artifact(arts, n).abi
  const ops: Record<string, number> = {}
  const op = async (name: string, i: number, to: Address, c: string, fn: string, args: readonly unknown[] = []) => {
    const r = await write(cs[i]!, to, abi(c), fn, args)
    ops[name] = Number(r.gasUsed)
    return r
  }
  const T = 'ZEOToken'
  // baseline: plain ERC-20 transfers
  await op('erc20.transfer (new recipient)', 0, dep.token, T, 'transfer', [addr(1), ZEO(100_000n)])
  await op('erc20.transfer (existing recipient)', 0, dep.token, T, 'transfer', [addr(1), ZEO(100_000n)])
  await op('erc20.approve', 1, dep.token, T, 'approve', [dep.escrow, ZEO(1_000_000n)])
  for (const i of [2, 3]) await write(cs[0]!, dep.token, abi(T), 'transfer', [addr(i), ZEO(100_000n)])
  await write(cs[2]!, dep.token, abi(T), 'transfer', [addr(0), 1n]) // creditor 2 already holds ZEO

  // escrow: binding, deposit, cheques
  const id = Identity.fromSeed(new Uint8Array(32).fill(7))
  await op('escrow.bind', 1, dep.escrow, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(signBinding(id.exportSecretKey(), 31337n, dep.escrow, addr(1)))])
  await op('escrow.deposit', 1, dep.escrow, 'SettlementEscrow', 'deposit', [ZEO(10_000n)])
  const escrow = hexToBytes(dep.escrow)
  const cash = async (name: string, creditor: number, amount: bigint, serial: bigint) => {
    const o = await signOnchainPart(keys[1]!, { chainId: 31337n, escrow, creditorEvm: hexToBytes(addr(creditor)), amountWei: amount, serial, expires: 0n })
    await op(name, creditor, dep.escrow, 'SettlementEscrow', 'cashCheque', [addr(1), addr(creditor), amount, serial, 0n, toHex(o.sig)])
  }
  await cash('escrow.cashCheque (first cheque of a pair, creditor holds ZEO)', 2, ZEO(10n), 1n)
  await cash('escrow.cashCheque (later cheque)', 2, ZEO(25n), 2n)
  await cash('escrow.cashCheque (first cheque, creditor holds no ZEO)', 4, ZEO(10n), 1n)
  await op('escrow.requestWithdrawal', 1, dep.escrow, 'SettlementEscrow', 'requestWithdrawal')
  await chain.increaseTime(11)
  await op('escrow.withdrawDeposit', 1, dep.escrow, 'SettlementEscrow', 'withdrawDeposit', [ZEO(1n)])
  const proof = toHex('proof')
  await op('escrow.initiateSettlement', 1, dep.escrow, 'SettlementEscrow', 'initiateSettlement', [addr(2), ZEO(10n), keccak256(proof)])
  await write(cs[1]!, dep.escrow, abi('SettlementEscrow'), 'initiateSettlement', [addr(2), ZEO(10n), keccak256(proof)])
  await write(cs[1]!, dep.escrow, abi('SettlementEscrow'), 'initiateSettlement', [addr(2), ZEO(10n), keccak256(proof)])
  await op('escrow.disputeSettlement', 1, dep.escrow, 'SettlementEscrow', 'disputeSettlement', [2n, toHex('evidence')])
  await chain.increaseTime(11)
  await op('escrow.claimSettlement', 2, dep.escrow, 'SettlementEscrow', 'claimSettlement', [1n, proof])
  await write(cs[0]!, dep.escrow, abi('SettlementEscrow'), 'grantRole', [keccak256(toHex('ARBITER_ROLE')), addr(0)])
  await op('escrow.resolveDispute (50/50)', 0, dep.escrow, 'SettlementEscrow', 'resolveDispute', [2n, 5000n])
  await chain.increaseTime(1001)
  await op('escrow.refund', 1, dep.escrow, 'SettlementEscrow', 'refund', [3n])

  // staking
  await write(cs[3]!, dep.token, abi(T), 'approve', [dep.staking, ZEO(1_000_000n)])
  await op('staking.stake (first)', 3, dep.staking, 'Staking', 'stake', [ZEO(20_000n)])
  await op('staking.stake (top-up)', 3, dep.staking, 'Staking', 'stake', [ZEO(1_000n)])
  await op('staking.registerProvider (exit, 100 Mbps)', 3, dep.staking, 'Staking', 'registerProvider', [1, 100])
  await op('staking.requestUnstake', 3, dep.staking, 'Staking', 'requestUnstake', [ZEO(1_000n)])
  await chain.increaseTime(11)
  await op('staking.withdraw', 3, dep.staking, 'Staking', 'withdraw')
  await write(cs[0]!, dep.staking, abi('Staking'), 'grantRole', [keccak256(toHex('SLASHER_ROLE')), addr(0)])
  await op('staking.slash (governance, 1%)', 0, dep.staking, 'Staking', 'slash', [addr(3), 1, keccak256('0x01')])

  // emission
  await chain.increaseTime(86_400)
  await op('emission.mintEpoch', 5, dep.emission, 'Emission', 'mintEpoch')

  // governance (Params is handed to the timelock, as a production deploy does)
  await write(cs[0]!, dep.params, abi('Params'), 'transferOwnership', [dep.timelock])
  await op('trust.report', 0, dep.trust, 'TrustOracle', 'report', [addr(3), 5n * 10n ** 17n])
  await write(cs[3]!, dep.token, abi(T), 'approve', [dep.governor, ZEO(1000n)])
  const targets = [dep.params]
  const calldatas = [encodeFunctionData({ abi: abi('Params'), functionName: 'setUint', args: [keccak256(toHex('fee_vpn')), 5n] })]
  await op('governor.propose (1 action, with deposit)', 3, dep.governor, 'ZeoneGovernor', 'propose', [targets, [0n], calldatas, 'bench'])
  const pid = await cs[0]!.public.readContract({ address: dep.governor, abi: abi('ZeoneGovernor'), functionName: 'hashProposal', args: [targets, [0n], calldatas, keccak256(toHex('bench'))] } as never) as bigint
  await chain.increaseTime(2)
  await op('governor.castVote', 3, dep.governor, 'ZeoneGovernor', 'castVote', [pid, 1])
  await chain.increaseTime(101)
  await op('governor.queue', 3, dep.governor, 'ZeoneGovernor', 'queue', [targets, [0n], calldatas, keccak256(toHex('bench'))])
  await chain.increaseTime(2)
  await op('governor.execute (Params.setUint)', 3, dep.governor, 'ZeoneGovernor', 'execute', [targets, [0n], calldatas, keccak256(toHex('bench'))])
  await op('governor.settleDeposit (refund)', 3, dep.governor, 'ZeoneGovernor', 'settleDeposit', [pid])

  // a dispute the arbiter never resolves: anyone ends it with the default split after arbitrationWindow (last, as
  // the 30-day jump would change the time-dependent figures above)
  const sid = await cs[0]!.public.readContract({ address: dep.escrow, abi: abi('SettlementEscrow'), functionName: 'nextId' } as never) as bigint
  await write(cs[1]!, dep.escrow, abi('SettlementEscrow'), 'initiateSettlement', [addr(2), ZEO(10n), keccak256(proof)])
  await write(cs[1]!, dep.escrow, abi('SettlementEscrow'), 'disputeSettlement', [sid, toHex('evidence')])
  await chain.increaseTime(30 * 86_400 + 1)
  await op('escrow.expireDispute (default 50/50)', 5, dep.escrow, 'SettlementEscrow', 'expireDispute', [sid])

  const cashFirst = ops['escrow.cashCheque (first cheque of a pair, creditor holds ZEO)']!
  const cashLater = ops['escrow.cashCheque (later cheque)']!
  const cashFresh = ops['escrow.cashCheque (first cheque, creditor holds no ZEO)']!
  const txNew = ops['erc20.transfer (new recipient)']!
  const txOld = ops['erc20.transfer (existing recipient)']!
  console.log(JSON.stringify({
    bench: 'gas',
    evm: 'EDR 0.13 in-process, Prague; solc 0.8.28, optimizer 200 runs',
    deploy: Object.fromEntries(Object.entries(dep.gas).map(([k, v]) => [k, Number(v)])),
    ops,
    baseline: { 'erc20.transfer (existing recipient)': txOld, 'erc20.transfer (new recipient)': txNew },
    ratios: {
      'cashCheque later / transfer existing': +(cashLater / txOld).toFixed(3),
      'cashCheque first of a pair (1 new slot) / transfer new recipient (1 new slot)': +(cashFirst / txNew).toFixed(3),
      'cashCheque first (creditor holds no ZEO) / transfer new recipient': +(cashFresh / txNew).toFixed(3),
    },
    // like for like: a cheque that creates no new storage slot against a transfer that creates none, and so on
    cashChequeWithin2xTransfer: cashLater <= 2 * txOld && cashFirst <= 2 * txNew && cashFresh <= 2 * txNew,
  }, null, 2))
}

await main()
