// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ed25519} from "./Ed25519.sol";

/// @title Binding of a node's Ed25519 identity to an EVM address.
/// Both keys prove themselves: the EVM key by sending the transaction, the Ed25519 key by its signature over
/// "ZEONE-BIND-v1" || chainId || registry || evmAddress, verified here (pure Solidity, once per binding; there is
/// no Ed25519 precompile). So a binding on-chain always means both keys agreed (see docs/contracts.md, trust model).
/// An address binds one node id; rebinding requires unbind first. Several addresses may bind the same node id only
/// if the node's key signed for each of them.
contract IdentityRegistry {
    struct Binding {
        bytes32 nodeId;
        bytes edSig;
    }

    mapping(address => Binding) private _bindings;

    event Bound(address indexed account, bytes32 indexed nodeId, bytes edSig);
    event Unbound(address indexed account, bytes32 indexed nodeId);

    error AlreadyBound(address account);
    error BadSignatureLength();
    error BadBindingSignature();

    function bind(bytes32 nodeId, bytes calldata edSig) external {
        if (edSig.length != 64) revert BadSignatureLength();
        if (_bindings[msg.sender].nodeId != bytes32(0)) revert AlreadyBound(msg.sender);
        if (!Ed25519.verify(nodeId, edSig, _bindingMessage(msg.sender))) revert BadBindingSignature();
        _bindings[msg.sender] = Binding(nodeId, edSig);
        _onBindingChanged(msg.sender, true);
        emit Bound(msg.sender, nodeId, edSig);
    }

    function unbind() external {
        bytes32 id = _bindings[msg.sender].nodeId;
        delete _bindings[msg.sender];
        _onBindingChanged(msg.sender, false);
        emit Unbound(msg.sender, id);
    }

    function nodeOf(address account) external view returns (bytes32) {
        return _bindings[account].nodeId;
    }

    /// Hook for inheriting contracts that cache "is bound" next to other per-account state.
    function _onBindingChanged(address account, bool bound) internal virtual {}

    function bindingOf(address account) external view returns (bytes32 nodeId, bytes memory edSig) {
        Binding storage b = _bindings[account];
        return (b.nodeId, b.edSig);
    }

    /// The exact bytes the Ed25519 key signs.
    function bindingMessage(address account) external view returns (bytes memory) {
        return _bindingMessage(account);
    }

    function _bindingMessage(address account) internal view returns (bytes memory) {
        return abi.encodePacked("ZEONE-BIND-v1", block.chainid, address(this), account);
    }
}
