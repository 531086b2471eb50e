// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";

/// @title Governed network parameters. Owned by the TimelockController (so changed only by a passed proposal).
/// Keys are keccak256 of the snake_case name ("fee_vpn", "fee_cdn", "fee_ai", "debt_limit", "min_trust_score",
/// "slashing_rate", "slash_invalid_bps", "slash_unavailable_bps", "slash_censorship_bps", "fraud_reward_bps").
/// Basis-point keys are bounded to 10000. Every value is checkpointed by timestamp (`getUintAt`), so the governor
/// reads `min_trust_score` at a proposal's snapshot, not at vote time.
contract Params is Ownable {
    using Checkpoints for Checkpoints.Trace208;

    mapping(bytes32 => Checkpoints.Trace208) private _uint;
    mapping(bytes32 => bool) public modelWhitelisted;

    event ParamSet(bytes32 indexed key, uint256 value);
    event ModelWhitelisted(bytes32 indexed modelHash, bool allowed);

    error BpsOutOfRange(bytes32 key, uint256 value);

    bytes32 public constant FEE_VPN = keccak256("fee_vpn");
    bytes32 public constant FEE_CDN = keccak256("fee_cdn");
    bytes32 public constant FEE_AI = keccak256("fee_ai");
    bytes32 public constant DEBT_LIMIT = keccak256("debt_limit");
    bytes32 public constant MIN_TRUST_SCORE = keccak256("min_trust_score");
    bytes32 public constant SLASHING_RATE = keccak256("slashing_rate");
    bytes32 public constant SLASH_INVALID_BPS = keccak256("slash_invalid_bps");
    bytes32 public constant SLASH_UNAVAILABLE_BPS = keccak256("slash_unavailable_bps");
    bytes32 public constant SLASH_CENSORSHIP_BPS = keccak256("slash_censorship_bps");
    bytes32 public constant FRAUD_REWARD_BPS = keccak256("fraud_reward_bps");

    constructor(address owner_) Ownable(owner_) {
        _set(FEE_VPN, 1000); // micro-credits per MiB
        _set(FEE_CDN, 200); // micro-credits per MiB
        _set(FEE_AI, 50); // micro-credits per token
        _set(DEBT_LIMIT, 10_000_000); // micro-credits
        _set(MIN_TRUST_SCORE, 0.1e18); // WAD
        _set(SLASHING_RATE, 1000); // bps, the invalid-data base rate
        _set(SLASH_INVALID_BPS, 1000);
        _set(SLASH_UNAVAILABLE_BPS, 100);
        _set(SLASH_CENSORSHIP_BPS, 5000);
        _set(FRAUD_REWARD_BPS, 1000); // share of a fraud-proof slash paid to the submitter
    }

    function getUint(bytes32 key) external view returns (uint256) {
        return _uint[key].latest();
    }

    /// The value in force at `timepoint` (a timestamp).
    function getUintAt(bytes32 key, uint256 timepoint) external view returns (uint256) {
        return _uint[key].upperLookupRecent(uint48(timepoint));
    }

    function setUint(bytes32 key, uint256 value) external onlyOwner {
        _set(key, value);
    }

    function setModel(bytes32 modelHash, bool allowed) external onlyOwner {
        modelWhitelisted[modelHash] = allowed;
        emit ModelWhitelisted(modelHash, allowed);
    }

    function _set(bytes32 key, uint256 value) private {
        if (
            (key == SLASHING_RATE || key == SLASH_INVALID_BPS || key == SLASH_UNAVAILABLE_BPS
                || key == SLASH_CENSORSHIP_BPS || key == FRAUD_REWARD_BPS) && value > 10_000
        ) revert BpsOutOfRange(key, value);
        if (key == MIN_TRUST_SCORE && value > 1e18) revert BpsOutOfRange(key, value);
        if (value > type(uint208).max) revert BpsOutOfRange(key, value);
        _uint[key].push(uint48(block.timestamp), uint208(value));
        emit ParamSet(key, value);
    }
}
