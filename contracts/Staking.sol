// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Params} from "./Params.sol";

interface IBurnable {
    function burn(uint256 amount) external;
}

/// Told of every change to a provider's reward weight (the RewardsDistributor).
interface IRewardsHook {
    function setWeight(address account, uint256 weight) external;
}

/// @title Staking with an unbonding delay, provider stake requirements and slashing.
/// Exit and CDN providers must keep bonded >= bandwidthMbps * 100 ZEO. Slashing (rates from Params, defaults
/// 10% invalid data, 1% unavailability, 50% + ban for censorship) is possible only for SLASHER_ROLE (granted to
/// the governance timelock) or through a verified fraud proof (two conflicting signed data attestations).
/// Unbonding stake stays slashable until withdrawn, and cannot be withdrawn while a slash proposal against the
/// account is live (the governor, FREEZER_ROLE, freezes it for the proposal's whole path). Slashed tokens are
/// burned, except the fraud-proof submitter's reward (Params.fraud_reward_bps of the slash).
contract Staking is AccessControl, ReentrancyGuardTransient, EIP712 {
    using Checkpoints for Checkpoints.Trace208;
    using SafeERC20 for IERC20;

    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    bytes32 public constant FREEZER_ROLE = keccak256("FREEZER_ROLE");
    /// The longest a single freeze may reach into the future (bounds a faulty freezer).
    uint256 public constant MAX_FREEZE = 90 days;
    bytes32 public constant DATA_ATTESTATION_TYPEHASH =
        keccak256("DataAttestation(bytes32 root,uint64 index,bytes32 dataHash)");
    uint256 public constant STAKE_PER_MBPS = 100 ether;
    /// A verifier's statement that it re-executed block `index` of inference `root` and the provider's commitment
    /// `dataHash` failed the check (docs/protocol/verified-inference.md).
    bytes32 public constant INFERENCE_VERDICT_TYPEHASH =
        keccak256("InferenceVerdict(bytes32 root,uint64 index,bytes32 dataHash)");

    enum Kind { None, Exit, Cdn, Inference, Storage }
    enum Reason { InvalidData, Unavailability, Censorship }

    struct Account {
        uint128 bonded;
        uint128 unbonding;
        /// unbonded stake whose delay has passed (set aside when a new request starts a new clock); slashable
        uint128 withdrawable;
        uint64 releaseAt;
        uint32 bandwidthMbps;
        Kind kind;
        bool banned;
    }

    IERC20 public immutable token;
    Params public immutable params;
    uint256 public unbondingDelay;
    mapping(address => Account) private _accounts;
    mapping(address => Checkpoints.Trace208) private _votingStake;
    mapping(bytes32 => bool) public fraudProofUsed;
    /// no withdrawal before this time (a slash proposal against the account is live)
    mapping(address => uint64) public frozenUntil;
    IRewardsHook public rewards;
    /// Distinct staked inference verifiers whose verdicts slash a commitment (0 turns slashByVerdict off).
    uint256 public verdictQuorum = 3;
    /// Least bonded stake of each verifier in a verdict quorum.
    uint256 public verifierMinStake = 1_000 ether;

    event Staked(address indexed account, uint256 amount);
    event UnstakeRequested(address indexed account, uint256 amount, uint256 releaseAt);
    event Withdrawn(address indexed account, uint256 amount);
    event ProviderRegistered(address indexed account, Kind kind, uint32 bandwidthMbps);
    event Slashed(address indexed account, Reason reason, uint256 amount, bytes32 evidence, bool banned);
    event UnbondingDelaySet(uint256 delay);
    event UnbondingFrozenUntil(address indexed account, uint256 until);
    event RewardsHookSet(address hook);
    event VerdictQuorumSet(uint256 quorum, uint256 minStake);
    event FraudProofRewarded(address indexed submitter, address indexed account, uint256 reward);

    error Banned(address account);
    error InsufficientStake(uint256 have, uint256 need);
    error StillUnbonding(uint256 releaseAt);
    error ZeroAmount();
    error InvalidFraudProof();
    error UnbondingFrozen(uint256 until);

    constructor(IERC20 token_, Params params_, uint256 unbondingDelay_, address admin) EIP712("ZEONE Staking", "1") {
        token = token_;
        params = params_;
        unbondingDelay = unbondingDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        if (a.banned) revert Banned(msg.sender);
        token.safeTransferFrom(msg.sender, address(this), amount);
        a.bonded += uint128(amount);
        _checkpoint(msg.sender, a.bonded);
        _syncRewards(msg.sender);
        emit Staked(msg.sender, amount);
    }

    function requestUnstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        if (amount > a.bonded) revert InsufficientStake(a.bonded, amount);
        uint256 remaining = a.bonded - amount;
        uint256 need = requiredStake(msg.sender);
        if (remaining < need && remaining > 0) revert InsufficientStake(remaining, need);
        if (remaining == 0) { a.kind = Kind.None; a.bandwidthMbps = 0; }
        a.bonded = uint128(remaining);
        // an amount whose delay already passed keeps its release: only the new amount starts a new clock
        if (a.unbonding > 0 && block.timestamp >= a.releaseAt) {
            a.withdrawable += a.unbonding;
            a.unbonding = 0;
        }
        a.unbonding += uint128(amount);
        a.releaseAt = uint64(block.timestamp + unbondingDelay);
        _checkpoint(msg.sender, remaining);
        _syncRewards(msg.sender);
        emit UnstakeRequested(msg.sender, amount, a.releaseAt);
    }

    function withdraw() external nonReentrant {
        Account storage a = _accounts[msg.sender];
        uint256 frozen = frozenUntil[msg.sender];
        if (block.timestamp < frozen) revert UnbondingFrozen(frozen);
        uint256 amount = a.withdrawable;
        a.withdrawable = 0;
        if (block.timestamp >= a.releaseAt) {
            amount += a.unbonding;
            a.unbonding = 0;
        } else if (amount == 0) {
            revert StillUnbonding(a.releaseAt);
        }
        if (amount == 0) revert ZeroAmount();
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    function registerProvider(Kind kind, uint32 bandwidthMbps) external {
        Account storage a = _accounts[msg.sender];
        if (a.banned) revert Banned(msg.sender);
        uint256 need = (kind == Kind.Exit || kind == Kind.Cdn) ? uint256(bandwidthMbps) * STAKE_PER_MBPS : 0;
        if (a.bonded < need || a.bonded == 0) revert InsufficientStake(a.bonded, need);
        a.kind = kind;
        a.bandwidthMbps = bandwidthMbps;
        _syncRewards(msg.sender);
        emit ProviderRegistered(msg.sender, kind, bandwidthMbps);
    }

    /// Governance slashing (timelock holds SLASHER_ROLE).
    function slash(address account, Reason reason, bytes32 evidence) external onlyRole(SLASHER_ROLE) nonReentrant {
        _slash(account, reason, evidence, address(0));
    }

    /// The governor freezes an account's withdrawals while a proposal to slash it runs its course.
    function freezeUnbonding(address account, uint256 until) external onlyRole(FREEZER_ROLE) {
        if (until > block.timestamp + MAX_FREEZE) until = block.timestamp + MAX_FREEZE;
        if (until <= frozenUntil[account]) return;
        frozenUntil[account] = uint64(until);
        emit UnbondingFrozenUntil(account, until);
    }

    /// Permissionless slashing with a verified fraud proof: two DataAttestations by `account` for the same
    /// (root, index) with different data hashes. Each conflicting pair can be used once.
    function slashInvalidData(
        address account,
        bytes32 root,
        uint64 index,
        bytes32 hashA,
        bytes calldata sigA,
        bytes32 hashB,
        bytes calldata sigB
    ) external nonReentrant {
        if (hashA == hashB) revert InvalidFraudProof();
        if (ECDSA.recover(attestationDigest(root, index, hashA), sigA) != account) revert InvalidFraudProof();
        if (ECDSA.recover(attestationDigest(root, index, hashB), sigB) != account) revert InvalidFraudProof();
        bytes32 key = keccak256(abi.encode(account, root, index));
        if (fraudProofUsed[key]) revert InvalidFraudProof();
        fraudProofUsed[key] = true;
        _slash(account, Reason.InvalidData, key, msg.sender);
    }

    /// Slashing on a failed inference check: `account` signed DataAttestation(root, index, dataHash), its commitment
    /// to the activations of block `index` of inference `root`, and `verdictQuorum` or more distinct staked
    /// inference providers other than `account` (given in strictly ascending address order) signed
    /// InferenceVerdict(root, index, dataHash). The contract checks the signatures, the verifiers' stakes and
    /// their distinctness; it cannot re-run a model, so the verdict is the quorum's (honest-quorum assumption).
    /// One slash per (account, root, index), shared with slashInvalidData.
    function slashByVerdict(
        address account,
        bytes32 root,
        uint64 index,
        bytes32 dataHash,
        bytes calldata sig,
        address[] calldata verifiers,
        bytes[] calldata verdictSigs
    ) external nonReentrant {
        uint256 q = verdictQuorum;
        if (q == 0 || verifiers.length < q || verifiers.length != verdictSigs.length) revert InvalidFraudProof();
        if (ECDSA.recover(attestationDigest(root, index, dataHash), sig) != account) revert InvalidFraudProof();
        bytes32 digest = verdictDigest(root, index, dataHash);
        address prev = address(0);
        for (uint256 i = 0; i < verifiers.length; i++) {
            address v = verifiers[i];
            if (v <= prev || v == account) revert InvalidFraudProof();
            prev = v;
            Account storage va = _accounts[v];
            if (va.kind != Kind.Inference || va.banned || va.bonded < verifierMinStake) revert InvalidFraudProof();
            if (ECDSA.recover(digest, verdictSigs[i]) != v) revert InvalidFraudProof();
        }
        bytes32 key = keccak256(abi.encode(account, root, index));
        if (fraudProofUsed[key]) revert InvalidFraudProof();
        fraudProofUsed[key] = true;
        _slash(account, Reason.InvalidData, key, msg.sender);
    }

    function verdictDigest(bytes32 root, uint64 index, bytes32 dataHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(INFERENCE_VERDICT_TYPEHASH, root, index, dataHash)));
    }

    function setVerdictQuorum(uint256 quorum, uint256 minStake) external onlyRole(DEFAULT_ADMIN_ROLE) {
        verdictQuorum = quorum;
        verifierMinStake = minStake;
        emit VerdictQuorumSet(quorum, minStake);
    }

    function attestationDigest(bytes32 root, uint64 index, bytes32 dataHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(DATA_ATTESTATION_TYPEHASH, root, index, dataHash)));
    }

    function setRewards(IRewardsHook hook) external onlyRole(DEFAULT_ADMIN_ROLE) {
        rewards = hook;
        emit RewardsHookSet(address(hook));
    }

    function setUnbondingDelay(uint256 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        unbondingDelay = delay;
        emit UnbondingDelaySet(delay);
    }

    /// Slashes bonded stake first, then unbonding, then matured; pays `rewardTo` (if any) its share, burns the rest.
    function _slash(address account, Reason reason, bytes32 evidence, address rewardTo) private {
        Account storage a = _accounts[account];
        bytes32 key = reason == Reason.InvalidData
            ? params.SLASH_INVALID_BPS()
            : reason == Reason.Unavailability ? params.SLASH_UNAVAILABLE_BPS() : params.SLASH_CENSORSHIP_BPS();
        uint256 bps = params.getUint(key);
        uint256 total = uint256(a.bonded) + a.unbonding + a.withdrawable;
        uint256 amount = (total * bps) / 10_000;
        uint256 left = amount;
        uint256 take = left <= a.bonded ? left : a.bonded;
        a.bonded -= uint128(take);
        left -= take;
        take = left <= a.unbonding ? left : a.unbonding;
        a.unbonding -= uint128(take);
        left -= take;
        a.withdrawable -= uint128(left);
        bool ban = reason == Reason.Censorship;
        if (ban) { a.banned = true; a.kind = Kind.None; a.bandwidthMbps = 0; }
        _checkpoint(account, a.bonded);
        _syncRewards(account);
        uint256 reward = rewardTo == address(0) ? 0 : (amount * params.getUint(params.FRAUD_REWARD_BPS())) / 10_000;
        if (amount - reward > 0) IBurnable(address(token)).burn(amount - reward);
        if (reward > 0) {
            token.safeTransfer(rewardTo, reward);
            emit FraudProofRewarded(rewardTo, account, reward);
        }
        emit Slashed(account, reason, amount, evidence, ban);
    }

    /// Voting stake follows the bonded stake, except that a banned account never regains voting weight.
    function _checkpoint(address account, uint256 bonded) private {
        _votingStake[account].push(uint48(block.timestamp), _accounts[account].banned ? 0 : uint208(bonded));
    }

    /// Reward weight: the bonded stake of a registered, unbanned provider.
    function rewardWeight(address account) public view returns (uint256) {
        Account storage a = _accounts[account];
        return (a.kind == Kind.None || a.banned) ? 0 : a.bonded;
    }

    function _syncRewards(address account) private {
        IRewardsHook hook = rewards;
        if (address(hook) != address(0)) hook.setWeight(account, rewardWeight(account));
    }

    function requiredStake(address account) public view returns (uint256) {
        Account storage a = _accounts[account];
        return (a.kind == Kind.Exit || a.kind == Kind.Cdn) ? uint256(a.bandwidthMbps) * STAKE_PER_MBPS : 0;
    }

    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    function stakeOf(address account) external view returns (uint256) {
        return _accounts[account].bonded;
    }

    /// Bonded stake at `timepoint` (a timestamp); banned accounts have 0 from the ban on.
    function votingStakeAt(address account, uint256 timepoint) external view returns (uint256) {
        return _votingStake[account].upperLookupRecent(uint48(timepoint));
    }
}
