// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ZEO: the network's ERC-20 (18 decimals, 100M initial supply, 1B hard cap).
/// Only holders of MINTER_ROLE (the Emission contract) can mint; the cap is enforced by ERC20Capped on every mint.
/// Voting power does not come from token balances (see ZeoneGovernor), so ERC20Votes is not needed.
contract ZEOToken is ERC20, ERC20Permit, ERC20Capped, ERC20Burnable, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    uint256 public constant INITIAL_SUPPLY = 100_000_000 ether;
    uint256 public constant HARD_CAP = 1_000_000_000 ether;

    constructor(address admin, address initialHolder)
        ERC20("ZEONE", "ZEO")
        ERC20Permit("ZEONE")
        ERC20Capped(HARD_CAP)
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _mint(initialHolder, INITIAL_SUPPLY);
    }

    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
    }
}
