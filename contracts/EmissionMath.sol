// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Fixed-point e^(-x) for the emission curve.
/// x is a WAD (1e18 = 1.0); the result is a RAY (1e27 = 1.0). Internally 27 decimals: x = k ln2 + r with r in [0, ln2), e^r by Taylor series
/// (terms < 1e-30 after 30 terms), e^-x = (1/e^r) >> k. Relative error < 1e-9 for x <= 40 (tested against
/// float64 exp). For x > 40 the result is 0 (e^-40 ~ 4e-18 is below the curve's meaningful resolution).
library EmissionMath {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant RAY = 1e27;
    uint256 internal constant LN2_RAY = 693147180559945309417232121; // ln 2 * 1e27
    uint256 internal constant MAX_X = 40e18;

    function expNegRay(uint256 x) internal pure returns (uint256) {
        if (x == 0) return RAY;
        if (x > MAX_X) return 0;
        uint256 xr = x * 1e9; // to RAY
        uint256 k = xr / LN2_RAY;
        uint256 r = xr - k * LN2_RAY;
        // e^r = sum r^n / n!
        uint256 term = RAY;
        uint256 sum = RAY;
        for (uint256 n = 1; n < 32; ++n) {
            term = (term * r) / (RAY * n);
            if (term == 0) break;
            sum += term;
        }
        uint256 invRay = (RAY * RAY) / sum; // e^-r in RAY, in (0.5, 1]
        return invRay >> k;
    }
}
