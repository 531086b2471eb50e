// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {Staking} from "./Staking.sol";
import {TrustOracle} from "./TrustOracle.sol";
import {Params} from "./Params.sol";

interface IBurnableZEO {
    function burn(uint256 amount) external;
}

/// @title ZEONE DAO governor. Vote weight = sqrt(bonded stake) * (1 + trust), read at the proposal snapshot
/// (timestamp clock), like the quorum, minVotingStake and Params.min_trust_score, which are all checkpointed.
/// Accounts below minVotingStake or below min_trust_score have no weight, so splitting stake across fresh addresses
/// yields nothing; splitting across n trusted, staked addresses gains at most sqrt(n) (see docs/contracts.md).
/// While the trust oracle is in bootstrap (too few reporters) weight is sqrt(stake) alone.
/// A proposal needs a 1000 ZEO deposit, refunded if the proposal reached quorum and was not canceled, burned
/// otherwise. A proposal that slashes a staker freezes that staker's withdrawals for the proposal's whole path.
contract ZeoneGovernor is Governor, GovernorSettings, GovernorCountingSimple, GovernorTimelockControl {
    using SafeERC20 for IERC20;
    using Checkpoints for Checkpoints.Trace208;

    uint256 public constant PROPOSAL_DEPOSIT = 1000 ether;
    /// Time after the timelock delay in which a passed slash is expected to be executed (freeze length margin).
    uint256 public constant EXECUTION_GRACE = 2 days;

    IERC20 public immutable token;
    Staking public immutable staking;
    TrustOracle public immutable trust;
    Params public immutable params;
    Checkpoints.Trace208 private _quorum;
    Checkpoints.Trace208 private _minVotingStake;
    mapping(uint256 => address) public depositOf;

    event DepositSettled(uint256 indexed proposalId, address indexed proposer, bool refunded);
    event QuorumSet(uint256 quorumVotes);
    event MinVotingStakeSet(uint256 minVotingStake);

    error DepositNotClaimable(uint256 proposalId);
    error ValueTooLarge(uint256 value);

    struct Init {
        IERC20 token;
        Staking staking;
        TrustOracle trust;
        Params params;
        TimelockController timelock;
        uint48 votingDelay;
        uint32 votingPeriod;
        uint256 quorumVotes;
        uint256 minVotingStake;
    }

    constructor(Init memory init)
        Governor("ZEONE Governor")
        GovernorSettings(init.votingDelay, init.votingPeriod, 0)
        GovernorTimelockControl(init.timelock)
    {
        token = init.token;
        staking = init.staking;
        trust = init.trust;
        params = init.params;
        _quorum.push(uint48(block.timestamp), _fit(init.quorumVotes));
        _minVotingStake.push(uint48(block.timestamp), _fit(init.minVotingStake));
    }

    function _fit(uint256 v) private pure returns (uint208) {
        if (v > type(uint208).max) revert ValueTooLarge(v);
        return uint208(v);
    }

    function quorumVotes() external view returns (uint256) {
        return _quorum.latest();
    }

    function minVotingStake() external view returns (uint256) {
        return _minVotingStake.latest();
    }

    function minVotingStakeAt(uint256 timepoint) public view returns (uint256) {
        return _minVotingStake.upperLookupRecent(uint48(timepoint));
    }

    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// The quorum in force at the proposal's snapshot: changing it later neither revives nor kills a proposal.
    function quorum(uint256 timepoint) public view override returns (uint256) {
        return _quorum.upperLookupRecent(uint48(timepoint));
    }

    /// sqrt(stake at t) * (1 + trust at t), in sqrt(wei) units scaled by 1e18 for the trust factor; every input,
    /// thresholds included, as it was at t. During the trust bootstrap: sqrt(stake at t).
    function weightAt(address account, uint256 timepoint) public view returns (uint256) {
        uint256 s = staking.votingStakeAt(account, timepoint);
        if (s == 0 || s < minVotingStakeAt(timepoint)) return 0;
        if (!trust.isActiveAt(timepoint)) return Math.sqrt(s);
        uint256 t = trust.trustAt(account, timepoint);
        if (t < params.getUintAt(params.MIN_TRUST_SCORE(), timepoint)) return 0;
        return (Math.sqrt(s) * (1e18 + t)) / 1e18;
    }

    function _getVotes(address account, uint256 timepoint, bytes memory) internal view override returns (uint256) {
        return weightAt(account, timepoint);
    }

    function propose(address[] memory targets, uint256[] memory values, bytes[] memory calldatas, string memory description)
        public override returns (uint256 proposalId)
    {
        token.safeTransferFrom(_msgSender(), address(this), PROPOSAL_DEPOSIT);
        proposalId = super.propose(targets, values, calldatas, description);
        depositOf[proposalId] = _msgSender();
        _freezeSlashTargets(proposalId, targets, calldatas);
    }

    /// A staker named in a slash action cannot withdraw before the proposal could have been executed: voting end +
    /// timelock delay + EXECUTION_GRACE (so unbonding is never a way out of a slash).
    function _freezeSlashTargets(uint256 proposalId, address[] memory targets, bytes[] memory calldatas) private {
        uint256 until;
        for (uint256 i = 0; i < targets.length; ++i) {
            bytes memory data = calldatas[i];
            if (targets[i] != address(staking) || data.length < 36 || bytes4(data) != Staking.slash.selector) continue;
            address account;
            assembly ("memory-safe") {
                account := and(mload(add(data, 36)), 0xffffffffffffffffffffffffffffffffffffffff)
            }
            if (until == 0) {
                until = proposalDeadline(proposalId) + TimelockController(payable(timelock())).getMinDelay() + EXECUTION_GRACE;
            }
            staking.freezeUnbonding(account, until);
        }
    }

    /// After voting ends: refunds the deposit if quorum was reached and the proposal was not canceled, else burns it
    /// (a proposer who cancels pays for the spam like one who is ignored).
    function settleDeposit(uint256 proposalId) external {
        address proposer = depositOf[proposalId];
        if (proposer == address(0)) revert DepositNotClaimable(proposalId);
        ProposalState st = state(proposalId);
        if (st == ProposalState.Pending || st == ProposalState.Active) revert DepositNotClaimable(proposalId);
        delete depositOf[proposalId];
        bool refund = st != ProposalState.Canceled && _quorumReached(proposalId);
        if (refund) token.safeTransfer(proposer, PROPOSAL_DEPOSIT);
        else IBurnableZEO(address(token)).burn(PROPOSAL_DEPOSIT);
        emit DepositSettled(proposalId, proposer, refund);
    }

    function setQuorumVotes(uint256 q) external onlyGovernance {
        _quorum.push(uint48(block.timestamp), _fit(q));
        emit QuorumSet(q);
    }

    function setMinVotingStake(uint256 m) external onlyGovernance {
        _minVotingStake.push(uint48(block.timestamp), _fit(m));
        emit MinVotingStakeSet(m);
    }

    // ---- required overrides
    function votingDelay() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingDelay();
    }

    function votingPeriod() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingPeriod();
    }

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function state(uint256 proposalId) public view override(Governor, GovernorTimelockControl) returns (ProposalState) {
        return super.state(proposalId);
    }

    function proposalNeedsQueuing(uint256 proposalId) public view override(Governor, GovernorTimelockControl) returns (bool) {
        return super.proposalNeedsQueuing(proposalId);
    }

    function _queueOperations(uint256 proposalId, address[] memory targets, uint256[] memory values, bytes[] memory calldatas, bytes32 descriptionHash)
        internal override(Governor, GovernorTimelockControl) returns (uint48)
    {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(uint256 proposalId, address[] memory targets, uint256[] memory values, bytes[] memory calldatas, bytes32 descriptionHash)
        internal override(Governor, GovernorTimelockControl)
    {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(address[] memory targets, uint256[] memory values, bytes[] memory calldatas, bytes32 descriptionHash)
        internal override(Governor, GovernorTimelockControl) returns (uint256)
    {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}
