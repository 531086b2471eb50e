// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ed25519} from "../Ed25519.sol";

/// Test-only: exposes the Ed25519 library so test/chain/escrow-binding.test.ts can check it against RFC 8032 / node.
contract Ed25519Harness {
    function verify(bytes32 key, bytes calldata sig, bytes calldata message) external view returns (bool) {
        return Ed25519.verify(key, sig, message);
    }

    function sha512(bytes calldata data) external pure returns (bytes32, bytes32) {
        return Ed25519.sha512(data);
    }
}
