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
import {Staking} from "./Staking.sol";
import {TrustOracle} from "./TrustOracle.sol";
import {Params} from "./Params.sol";

interface IBurnableZEO {
    function burn(uint256 amount) external;
}

/// @title ZEONE DAO governor. Vote weight = sqrt(bonded stake) * (1 + trust), both read at the proposal snapshot
/// (timestamp clock). Accounts below minVotingStake or below Params.min_trust_score have no weight, so splitting
/// stake across fresh addresses yields nothing; splitting across n trusted, staked addresses gains at most sqrt(n)
/// (see docs/contracts.md). A proposal needs a 1000 ZEO deposit, refunded if the proposal reached quorum (or was
/// canceled) and burned otherwise.
contract ZeoneGovernor is Governor, GovernorSettings, GovernorCountingSimple, GovernorTimelockControl {
    using SafeERC20 for IERC20;

    uint256 public constant PROPOSAL_DEPOSIT = 1000 ether;

    IERC20 public immutable token;
    Staking public immutable staking;
    TrustOracle public immutable trust;
    Params public immutable params;
    uint256 public quorumVotes;
    uint256 public minVotingStake;
    mapping(uint256 => address) public depositOf;

    event DepositSettled(uint256 indexed proposalId, address indexed proposer, bool refunded);
    event QuorumSet(uint256 quorumVotes);
    event MinVotingStakeSet(uint256 minVotingStake);

    error DepositNotClaimable(uint256 proposalId);

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
        quorumVotes = init.quorumVotes;
        minVotingStake = init.minVotingStake;
    }

    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function quorum(uint256) public view override returns (uint256) {
        return quorumVotes;
    }

    /// sqrt(stake at t) * (1 + trust at t), in sqrt(wei) units scaled by 1e18 for the trust factor.
    function weightAt(address account, uint256 timepoint) public view returns (uint256) {
        uint256 s = staking.votingStakeAt(account, timepoint);
        if (s == 0 || s < minVotingStake) return 0;
        uint256 t = trust.trustAt(account, timepoint);
        if (t < params.getUint(params.MIN_TRUST_SCORE())) return 0;
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
    }

    /// After voting ends: refunds the deposit if quorum was reached or the proposal was canceled, else burns it.
    function settleDeposit(uint256 proposalId) external {
        address proposer = depositOf[proposalId];
        if (proposer == address(0)) revert DepositNotClaimable(proposalId);
        ProposalState st = state(proposalId);
        if (st == ProposalState.Pending || st == ProposalState.Active) revert DepositNotClaimable(proposalId);
        delete depositOf[proposalId];
        bool refund = st == ProposalState.Canceled || _quorumReached(proposalId);
        if (refund) token.safeTransfer(proposer, PROPOSAL_DEPOSIT);
        else IBurnableZEO(address(token)).burn(PROPOSAL_DEPOSIT);
        emit DepositSettled(proposalId, proposer, refund);
    }

    function setQuorumVotes(uint256 q) external onlyGovernance {
        quorumVotes = q;
        emit QuorumSet(q);
    }

    function setMinVotingStake(uint256 m) external onlyGovernance {
        minVotingStake = m;
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
