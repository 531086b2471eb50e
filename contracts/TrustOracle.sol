// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";

/// @title Trust attestations: governance-approved reporters publish each address's trust score in [0, 1] (WAD),
/// checkpointed by timestamp so governance reads the value at a proposal's snapshot. Owned by the timelock.
contract TrustOracle is Ownable {
    using Checkpoints for Checkpoints.Trace208;

    mapping(address => bool) public isReporter;
    mapping(address => Checkpoints.Trace208) private _trust;

    event ReporterSet(address indexed reporter, bool allowed);
    event TrustReported(address indexed account, address indexed reporter, uint256 trustWad);

    error NotReporter(address caller);
    error TrustOutOfRange(uint256 value);

    constructor(address owner_) Ownable(owner_) {}

    function setReporter(address reporter, bool allowed) external onlyOwner {
        isReporter[reporter] = allowed;
        emit ReporterSet(reporter, allowed);
    }

    function report(address account, uint256 trustWad) external {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (trustWad > 1e18) revert TrustOutOfRange(trustWad);
        _trust[account].push(uint48(block.timestamp), uint208(trustWad));
        emit TrustReported(account, msg.sender, trustWad);
    }

    function trustOf(address account) external view returns (uint256) {
        return _trust[account].latest();
    }

    function trustAt(address account, uint256 timepoint) external view returns (uint256) {
        return _trust[account].upperLookupRecent(uint48(timepoint));
    }
}
