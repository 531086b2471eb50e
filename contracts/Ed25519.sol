// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Ed25519 signature verification (RFC 8032, pure Solidity; the EVM has no Ed25519 precompile).
/// Used once per identity binding, never per cheque: about 1-2 M gas. Strict: S < L, canonical encodings, and the
/// cofactorless equation [S]B = R + [k]A (every honest RFC 8032 signature satisfies it).
library Ed25519 {
    uint256 private constant P = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed; // 2^255 - 19
    uint256 private constant L = 0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed; // group order
    uint256 private constant D = 37095705934669439343138083508754565189542113879843219016388785533085940283555;
    uint256 private constant D2 = 16295367250680780974490674513165176452449235426866156013048779062215315747161; // 2d mod p
    uint256 private constant BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202;
    uint256 private constant BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960;
    uint256 private constant SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752; // 2^((p-1)/4)

    /// SHA-512 round constants (FIPS 180-4 §4.2.3), 80 x 8 bytes.
    bytes private constant K = hex"428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e272be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c652de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e7027b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353ba2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b819a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532bca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed17806f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817";

    /// True iff sig = R || S is key's Ed25519 signature over message.
    function verify(bytes32 key, bytes memory sig, bytes memory message) internal view returns (bool) {
        if (sig.length != 64) return false;
        bytes32 r;
        bytes32 sLe;
        assembly ("memory-safe") {
            r := mload(add(sig, 32))
            sLe := mload(add(sig, 64))
        }
        uint256 s = _le(sLe);
        if (s >= L) return false;
        (bool ok, uint256 ax, uint256 ay) = _decompress(key);
        if (!ok) return false;
        (uint256 x, uint256 y) = _mulAdd(s, _challenge(r, key, message), ax, ay);
        return _le(r) == (y | ((x & 1) << 255));
    }

    /// k = SHA-512(R || A || M) read little-endian, mod L.
    function _challenge(bytes32 r, bytes32 key, bytes memory message) private pure returns (uint256) {
        (bytes32 hHi, bytes32 hLo) = sha512(abi.encodePacked(r, key, message));
        return addmod(mulmod(_le(hLo), mulmod(1 << 128, 1 << 128, L), L), _le(hHi) % L, L);
    }

    /// Affine [s]B + [k](-A), by one double-and-add pass over both scalars (Shamir's trick).
    function _mulAdd(uint256 s, uint256 k, uint256 ax, uint256 ay) private view returns (uint256 x, uint256 y) {
        uint256[4] memory b = [BX, BY, 1, mulmod(BX, BY, P)];
        uint256[4] memory na = [P - ax, ay, 1, mulmod(P - ax, ay, P)];
        uint256[4] memory bna = [b[0], b[1], b[2], b[3]];
        _add(bna, na);
        uint256[4] memory acc = [uint256(0), 1, 1, 0];
        for (uint256 i = 253; ; ) {
            _double(acc);
            uint256 bits = ((s >> i) & 1) | (((k >> i) & 1) << 1);
            if (bits == 1) _add(acc, b);
            else if (bits == 2) _add(acc, na);
            else if (bits == 3) _add(acc, bna);
            if (i == 0) break;
            unchecked { --i; }
        }
        uint256 zi = _expmod(acc[2], P - 2);
        x = mulmod(acc[0], zi, P);
        y = mulmod(acc[1], zi, P);
    }

    /// Decodes a 32-byte little-endian point encoding (RFC 8032 §5.1.3); ok = false when it is not on the curve.
    function _decompress(bytes32 enc) private view returns (bool ok, uint256 x, uint256 y) {
        uint256 v = _le(enc);
        uint256 sign = v >> 255;
        y = v & ((1 << 255) - 1);
        if (y >= P) return (false, 0, 0);
        uint256 yy = mulmod(y, y, P);
        uint256 u = addmod(yy, P - 1, P);
        uint256 w = addmod(mulmod(D, yy, P), 1, P);
        uint256 w3 = mulmod(mulmod(w, w, P), w, P);
        uint256 w7 = mulmod(mulmod(w3, w3, P), w, P);
        x = mulmod(mulmod(u, w3, P), _expmod(mulmod(u, w7, P), (P - 5) / 8), P);
        uint256 wxx = mulmod(w, mulmod(x, x, P), P);
        if (wxx != u) {
            if (wxx != P - u) return (false, 0, 0);
            x = mulmod(x, SQRT_M1, P);
        }
        if (x == 0 && sign == 1) return (false, 0, 0);
        if (x & 1 != sign) x = P - x;
        return (true, x, y);
    }

    /// p = p + q in extended coordinates (X, Y, Z, T), a = -1 (RFC 8032 §5.1.4; complete for Ed25519).
    function _add(uint256[4] memory p, uint256[4] memory q) private pure {
        uint256 a = mulmod(addmod(p[1], P - p[0], P), addmod(q[1], P - q[0], P), P);
        uint256 b = mulmod(addmod(p[1], p[0], P), addmod(q[1], q[0], P), P);
        uint256 c = mulmod(mulmod(p[3], D2, P), q[3], P);
        uint256 d = mulmod(addmod(p[2], p[2], P), q[2], P);
        uint256 e = addmod(b, P - a, P);
        uint256 f = addmod(d, P - c, P);
        uint256 g = addmod(d, c, P);
        uint256 h = addmod(b, a, P);
        p[0] = mulmod(e, f, P);
        p[1] = mulmod(g, h, P);
        p[2] = mulmod(f, g, P);
        p[3] = mulmod(e, h, P);
    }

    function _double(uint256[4] memory p) private pure {
        uint256 a = mulmod(p[0], p[0], P);
        uint256 b = mulmod(p[1], p[1], P);
        uint256 c = mulmod(2, mulmod(p[2], p[2], P), P);
        uint256 h = addmod(a, b, P);
        uint256 xy = addmod(p[0], p[1], P);
        uint256 e = addmod(h, P - mulmod(xy, xy, P), P);
        uint256 g = addmod(a, P - b, P);
        uint256 f = addmod(c, g, P);
        p[0] = mulmod(e, f, P);
        p[1] = mulmod(g, h, P);
        p[2] = mulmod(f, g, P);
        p[3] = mulmod(e, h, P);
    }

    function _expmod(uint256 base, uint256 e) private view returns (uint256 out) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 32)
            mstore(add(m, 32), 32)
            mstore(add(m, 64), 32)
            mstore(add(m, 96), base)
            mstore(add(m, 128), e)
            mstore(add(m, 160), P)
            if iszero(staticcall(gas(), 0x05, m, 192, m, 32)) { revert(0, 0) }
            out := mload(m)
        }
    }

    /// The 32 bytes read as a little-endian integer.
    function _le(bytes32 b) private pure returns (uint256 v) {
        v = uint256(b);
        v = ((v & 0xff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00) >> 8)
            | ((v & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff) << 8);
        v = ((v & 0xffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000) >> 16)
            | ((v & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff) << 16);
        v = ((v & 0xffffffff00000000ffffffff00000000ffffffff00000000ffffffff00000000) >> 32)
            | ((v & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff) << 32);
        v = ((v & 0xffffffffffffffff0000000000000000ffffffffffffffff0000000000000000) >> 64)
            | ((v & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff) << 64);
        v = (v >> 128) | (v << 128);
    }

    /// SHA-512 (FIPS 180-4); returns the 64-byte digest as two words, first bytes first.
    function sha512(bytes memory data) internal pure returns (bytes32 hi, bytes32 lo) {
        uint256 n = data.length;
        uint256 len = ((n + 16) / 128 + 1) * 128;
        bytes memory m = new bytes(len);
        for (uint256 i = 0; i < n; i++) m[i] = data[i];
        m[n] = 0x80;
        uint256 bits = n * 8;
        for (uint256 i = 0; i < 16 && bits > 0; i++) { m[len - 1 - i] = bytes1(uint8(bits)); bits >>= 8; }
        uint64[8] memory h = [uint64(0x6a09e667f3bcc908), 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
            0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179];
        uint64[80] memory w;
        bytes memory k = K;
        for (uint256 off = 0; off < len; off += 128) {
            for (uint256 t = 0; t < 16; t++) {
                uint64 word;
                assembly ("memory-safe") { word := shr(192, mload(add(add(m, 32), add(off, mul(t, 8))))) }
                w[t] = word;
            }
            unchecked {
                for (uint256 t = 16; t < 80; t++) {
                    uint64 a = w[t - 15];
                    uint64 b = w[t - 2];
                    w[t] = (_rotr(b, 19) ^ _rotr(b, 61) ^ (b >> 6)) + w[t - 7] + (_rotr(a, 1) ^ _rotr(a, 8) ^ (a >> 7)) + w[t - 16];
                }
            }
            uint64[8] memory v = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]];
            for (uint256 t = 0; t < 80; t++) _round(v, w[t], k, t);
            unchecked { for (uint256 i = 0; i < 8; i++) h[i] += v[i]; }
        }
        hi = bytes32((uint256(h[0]) << 192) | (uint256(h[1]) << 128) | (uint256(h[2]) << 64) | uint256(h[3]));
        lo = bytes32((uint256(h[4]) << 192) | (uint256(h[5]) << 128) | (uint256(h[6]) << 64) | uint256(h[7]));
    }

    function _round(uint64[8] memory v, uint64 wt, bytes memory k, uint256 t) private pure {
        uint64 kt;
        assembly ("memory-safe") { kt := shr(192, mload(add(add(k, 32), mul(t, 8)))) }
        unchecked {
            uint64 e = v[4];
            uint64 t1 = v[7] + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & v[5]) ^ (~e & v[6])) + kt + wt;
            uint64 a = v[0];
            uint64 t2 = (_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
            v[7] = v[6]; v[6] = v[5]; v[5] = e; v[4] = v[3] + t1;
            v[3] = v[2]; v[2] = v[1]; v[1] = a; v[0] = t1 + t2;
        }
    }

    function _rotr(uint64 x, uint256 n) private pure returns (uint64) {
        return (x >> n) | (x << (64 - n));
    }
}
