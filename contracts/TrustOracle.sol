// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";

/// @title Trust oracle: no single key's word. Each governance-approved reporter publishes its own score for an
/// address (WAD in [0, 1]); the address's trust is the median of the current reporters' reports, needs at least
/// `minReports` of them, moves by at most `maxStepWad` per epoch from its value at the epoch's start, and is
/// checkpointed by timestamp so governance reads it at a proposal's snapshot.
/// Bootstrap: until at least `minReports` reporters exist the oracle is inactive (`isActiveAt` false) and the
/// governor weighs votes by stake alone. Reporters named in the constructor activate it at once; reporters added
/// later by governance activate it one epoch later, so they can publish scores before trust starts to count.
/// Owned by the timelock.
contract TrustOracle is Ownable {
    using Checkpoints for Checkpoints.Trace208;

    uint256 public constant MAX_REPORTERS = 32;
    uint256 public constant WAD = 1e18;

    struct Report {
        uint208 value;
        uint48 at;
    }

    struct EpochBase {
        uint48 epoch;
        uint208 value;
    }

    address[] private _reporters;
    mapping(address => bool) public isReporter;
    uint256 public minReports;
    uint256 public maxStepWad;
    uint256 public immutable epochLength;
    mapping(address => mapping(address => Report)) private _reports;
    mapping(address => Checkpoints.Trace208) private _trust;
    mapping(address => EpochBase) private _base;
    /// value = the time from which trust counts (0 = inactive), keyed by when that was decided
    Checkpoints.Trace208 private _activeSince;

    event ReporterSet(address indexed reporter, bool allowed);
    event TrustReported(address indexed account, address indexed reporter, uint256 trustWad);
    event TrustUpdated(address indexed account, uint256 trustWad, uint256 median, uint256 reports);
    event MinReportsSet(uint256 minReports);
    event MaxStepSet(uint256 maxStepWad);

    error NotReporter(address caller);
    error TrustOutOfRange(uint256 value);
    error TooManyReporters();
    error BadSetting();

    constructor(address owner_, address[] memory reporters_, uint256 minReports_, uint256 maxStepWad_, uint256 epochLength_)
        Ownable(owner_)
    {
        if (minReports_ == 0 || minReports_ > MAX_REPORTERS || maxStepWad_ == 0 || maxStepWad_ > WAD || epochLength_ == 0) {
            revert BadSetting();
        }
        minReports = minReports_;
        maxStepWad = maxStepWad_;
        epochLength = epochLength_;
        for (uint256 i = 0; i < reporters_.length; ++i) _setReporter(reporters_[i], true);
        _activeSince.push(uint48(block.timestamp), _reporters.length >= minReports_ ? uint208(block.timestamp) : 0);
    }

    function setReporter(address reporter, bool allowed) external onlyOwner {
        _setReporter(reporter, allowed);
        _updateActive();
    }

    function setMinReports(uint256 n) external onlyOwner {
        if (n == 0 || n > MAX_REPORTERS) revert BadSetting();
        minReports = n;
        emit MinReportsSet(n);
        _updateActive();
    }

    function setMaxStep(uint256 stepWad) external onlyOwner {
        if (stepWad == 0 || stepWad > WAD) revert BadSetting();
        maxStepWad = stepWad;
        emit MaxStepSet(stepWad);
    }

    /// A reporter's score for `account`; recomputes the account's trust from every current reporter's report.
    function report(address account, uint256 trustWad) external {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (trustWad > WAD) revert TrustOutOfRange(trustWad);
        _reports[account][msg.sender] = Report(uint208(trustWad), uint48(block.timestamp));
        emit TrustReported(account, msg.sender, trustWad);
        _aggregate(account);
    }

    function trustOf(address account) external view returns (uint256) {
        return _trust[account].latest();
    }

    function trustAt(address account, uint256 timepoint) external view returns (uint256) {
        return _trust[account].upperLookupRecent(uint48(timepoint));
    }

    /// Whether trust counted at `timepoint` (false during bootstrap: too few reporters).
    function isActiveAt(uint256 timepoint) external view returns (bool) {
        uint256 since = _activeSince.upperLookupRecent(uint48(timepoint));
        return since != 0 && timepoint >= since;
    }

    function reporters() external view returns (address[] memory) {
        return _reporters;
    }

    function reportOf(address account, address reporter) external view returns (uint256 value, uint256 at) {
        Report memory r = _reports[account][reporter];
        return (r.value, r.at);
    }

    function _setReporter(address reporter, bool allowed) private {
        if (isReporter[reporter] == allowed) return;
        isReporter[reporter] = allowed;
        if (allowed) {
            if (_reporters.length >= MAX_REPORTERS) revert TooManyReporters();
            _reporters.push(reporter);
        } else {
            for (uint256 i = 0; i < _reporters.length; ++i) {
                if (_reporters[i] == reporter) {
                    _reporters[i] = _reporters[_reporters.length - 1];
                    _reporters.pop();
                    break;
                }
            }
        }
        emit ReporterSet(reporter, allowed);
    }

    function _updateActive() private {
        uint256 since = _activeSince.latest();
        bool enough = _reporters.length >= minReports;
        if (enough && since == 0) _activeSince.push(uint48(block.timestamp), uint208(block.timestamp + epochLength));
        else if (!enough && since != 0) _activeSince.push(uint48(block.timestamp), 0);
    }

    function _aggregate(address account) private {
        uint256 n = _reporters.length;
        uint256[] memory vals = new uint256[](n);
        uint256 k = 0;
        for (uint256 i = 0; i < n; ++i) {
            Report memory r = _reports[account][_reporters[i]];
            if (r.at == 0) continue;
            // insertion sort (n <= 32)
            uint256 j = k++;
            while (j > 0 && vals[j - 1] > r.value) {
                vals[j] = vals[j - 1];
                --j;
            }
            vals[j] = r.value;
        }
        if (k < minReports) return;
        uint256 median = k % 2 == 1 ? vals[k / 2] : (vals[k / 2 - 1] + vals[k / 2]) / 2;
        uint256 epoch = block.timestamp / epochLength;
        EpochBase memory b = _base[account];
        if (b.epoch != epoch || _trust[account].length() == 0) {
            b = EpochBase(uint48(epoch), uint208(_trust[account].latest()));
            _base[account] = b;
        }
        uint256 lo = b.value > maxStepWad ? b.value - maxStepWad : 0;
        uint256 hi = b.value + maxStepWad > WAD ? WAD : b.value + maxStepWad;
        uint256 v = median < lo ? lo : median > hi ? hi : median;
        _trust[account].push(uint48(block.timestamp), uint208(v));
        emit TrustUpdated(account, v, median, k);
    }
}
