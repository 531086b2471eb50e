// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EmissionMath} from "./EmissionMath.sol";
import {ZEOToken} from "./ZEOToken.sol";

/// @title Emission: S(t) = S_max (1 - e^(-lambda t)), lambda = 0.1 / year, minted per epoch to the rewards pool.
/// Anyone may call mintEpoch(); it mints the cumulative curve value at the last completed epoch boundary minus what
/// was already minted, so it is idempotent per epoch (a second call in the same epoch reverts) and rounding never
/// accumulates. Mints are clipped to the token's hard cap: the initial 100M plus the curve would otherwise pass 1B
/// (after ~23 years without burns); burned tokens free headroom for later epochs.
contract Emission is AccessControl {
    uint256 public constant S_MAX = 1_000_000_000 ether;
    uint256 public constant YEAR = 365 days;
    /// lambda = 0.1 / year, as WAD per year
    uint256 public constant LAMBDA_WAD = 0.1e18;

    ZEOToken public immutable token;
    uint256 public immutable start;
    uint256 public immutable epochLength;
    address public rewardsPool;
    /// number of completed epochs already minted
    uint256 public mintedEpochs;
    /// cumulative curve value minted up to mintedEpochs (before cap clipping)
    uint256 public emitted;

    event EpochMinted(uint256 indexed epoch, uint256 amount, uint256 curveAmount);
    event RewardsPoolChanged(address pool);

    error EpochAlreadyMinted(uint256 epoch);
    error ZeroAddress();

    constructor(ZEOToken token_, address rewardsPool_, uint256 start_, uint256 epochLength_, address admin) {
        if (rewardsPool_ == address(0) || address(token_) == address(0)) revert ZeroAddress();
        require(epochLength_ > 0 && epochLength_ <= YEAR, "epoch length");
        token = token_;
        rewardsPool = rewardsPool_;
        start = start_;
        epochLength = epochLength_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// Cumulative emission S(t) in wei for t seconds after start.
    function cumulative(uint256 t) public pure returns (uint256) {
        uint256 x = (LAMBDA_WAD * t) / YEAR;
        return (S_MAX * (EmissionMath.RAY - EmissionMath.expNegRay(x))) / EmissionMath.RAY;
    }

    /// e^(-x) for a WAD x, as a RAY.
    function expNegRay(uint256 x) external pure returns (uint256) {
        return EmissionMath.expNegRay(x);
    }

    function completedEpochs() public view returns (uint256) {
        if (block.timestamp < start) return 0;
        return (block.timestamp - start) / epochLength;
    }

    /// Mints everything due up to the last completed epoch. Callable by anyone.
    function mintEpoch() external returns (uint256 minted) {
        uint256 n = completedEpochs();
        if (n <= mintedEpochs) revert EpochAlreadyMinted(n);
        uint256 target = cumulative(n * epochLength);
        uint256 due = target - emitted;
        mintedEpochs = n;
        emitted = target;
        uint256 headroom = token.cap() - token.totalSupply();
        minted = due < headroom ? due : headroom;
        if (minted > 0) token.mint(rewardsPool, minted);
        emit EpochMinted(n, minted, due);
    }

    function setRewardsPool(address pool) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (pool == address(0)) revert ZeroAddress();
        rewardsPool = pool;
        emit RewardsPoolChanged(pool);
    }
}
