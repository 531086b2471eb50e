// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title The emission's beneficiary: pays providers by rule, not by anyone's decision.
/// Every ZEO that arrives (the Emission contract mints here) is shared among registered, unbanned providers in
/// proportion to their bonded stake at the time it is noticed (a cumulative reward-per-weight index, as in
/// Synthetix StakingRewards without a rate). The Staking contract reports each change of a provider's weight;
/// providers `claim()` what they earned. Tokens that arrive while no provider is registered wait for the first.
/// No owner, no admin, nothing to configure.
contract RewardsDistributor is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant SCALE = 1e18;

    IERC20 public immutable token;
    address public immutable staking;
    uint256 public totalWeight;
    /// rewards per unit of weight, scaled by 1e18, since deployment
    uint256 public index;
    /// tokens already credited to providers (earned, not yet claimed) plus rounding dust
    uint256 public reserved;
    mapping(address => uint256) public weightOf;
    mapping(address => uint256) private _indexOf;
    mapping(address => uint256) private _owed;

    event WeightSet(address indexed account, uint256 weight);
    event Claimed(address indexed account, uint256 amount);

    error NotStaking(address caller);
    error NothingToClaim();

    constructor(IERC20 token_, address staking_) {
        token = token_;
        staking = staking_;
    }

    function setWeight(address account, uint256 weight) external {
        if (msg.sender != staking) revert NotStaking(msg.sender);
        _sync();
        _settle(account);
        totalWeight = totalWeight - weightOf[account] + weight;
        weightOf[account] = weight;
        emit WeightSet(account, weight);
    }

    function claim() external nonReentrant returns (uint256 amount) {
        _sync();
        _settle(msg.sender);
        amount = _owed[msg.sender];
        if (amount == 0) revert NothingToClaim();
        _owed[msg.sender] = 0;
        reserved -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, amount);
    }

    /// What `account` could claim now.
    function earned(address account) external view returns (uint256) {
        uint256 idx = index;
        uint256 fresh = token.balanceOf(address(this)) - reserved;
        if (fresh > 0 && totalWeight > 0) idx += (fresh * SCALE) / totalWeight;
        return _owed[account] + (weightOf[account] * (idx - _indexOf[account])) / SCALE;
    }

    /// Folds newly arrived tokens into the index.
    function _sync() private {
        uint256 fresh = token.balanceOf(address(this)) - reserved;
        if (fresh == 0 || totalWeight == 0) return;
        index += (fresh * SCALE) / totalWeight;
        reserved += fresh;
    }

    function _settle(address account) private {
        _owed[account] += (weightOf[account] * (index - _indexOf[account])) / SCALE;
        _indexOf[account] = index;
    }
}
