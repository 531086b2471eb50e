// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Binding of a node's Ed25519 identity to an EVM address.
/// The EVM key proves itself by sending the transaction; the Ed25519 signature over
/// "ZEONE-BIND-v1" || chainId || registry || evmAddress is stored on-chain (there is no Ed25519 precompile) and
/// every client verifies it off-chain before trusting a binding (see docs/contracts.md, trust model). An address
/// binds one node id; rebinding requires unbind first. A node id may be claimed by several addresses, but only a
/// claim whose Ed25519 signature verifies is honoured by clients, so squatting a victim's id gains nothing.
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

    function bind(bytes32 nodeId, bytes calldata edSig) external {
        if (edSig.length != 64) revert BadSignatureLength();
        if (_bindings[msg.sender].nodeId != bytes32(0)) revert AlreadyBound(msg.sender);
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
        return abi.encodePacked("ZEONE-BIND-v1", block.chainid, address(this), account);
    }
}
