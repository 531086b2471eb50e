// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IdentityRegistry} from "./IdentityRegistry.sol";

interface IBurnableToken {
    function burn(uint256 amount) external;
}

/// @title Settlement escrow: the seed's initiate/claim/dispute flow and cashing of cumulative EIP-712 cheques.
/// 20% (BURN_BPS) of every settled service fee is burned. Cheque debtors must have bound an Ed25519 node id
/// (IdentityRegistry, inherited, verifies the Ed25519 signature). Cashing depends on the cumulative amount only
/// (pay cumulative - alreadyPaid, as Swarm's chequebook): the serial is signed but never gates payment, so no
/// cheque can void another. A debtor with a deposit cannot unbind, and its deposit leaves only through a
/// withdrawal request that unlocks strictly after `withdrawDelay` and expires `withdrawWindow` later.
contract SettlementEscrow is AccessControl, ReentrancyGuardTransient, EIP712, IdentityRegistry {
    using SafeERC20 for IERC20;

    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    bytes32 public constant CHEQUE_TYPEHASH =
        keccak256("Cheque(address debtor,address creditor,uint256 cumulativeAmount,uint64 serial,uint64 expires)");
    uint256 public constant BURN_BPS = 2000;

    enum Status { None, Pending, Disputed, Paid, Resolved, Refunded }

    struct Settlement {
        address payer;
        uint64 claimAfter;
        uint32 _pad;
        address payee;
        uint64 deadline;
        Status status;
        uint128 amount;
        bytes32 proofHash;
    }

    /// One slot per debtor: deposit, withdrawal unlock time, and whether the debtor has bound a node id
    /// (cached here so cashing a cheque reads a single slot).
    struct Deposit {
        uint128 balance;
        uint64 unlockAt;
        bool bound;
    }


    IERC20 public immutable token;
    uint64 public disputeWindow;
    uint64 public claimWindow;
    uint64 public withdrawDelay;
    /// An unlocked withdrawal request can be used only this long; then the debtor must request (and wait) again.
    uint64 public withdrawWindow = 1 days;
    /// A disputed settlement the arbiter has not resolved this long after the dispute ends with DEFAULT_PAYEE_BPS.
    uint64 public arbitrationWindow = 30 days;
    /// Default outcome of an unresolved dispute: half to the payee (20% of that burned), half back to the payer.
    uint256 public constant DEFAULT_PAYEE_BPS = 5000;
    uint256 public nextId = 1;
    mapping(uint256 => Settlement) public settlements;
    mapping(address => Deposit) public deposits;
    /// Cumulative amount paid out on cheques from debtor to creditor (burn included).
    mapping(address => mapping(address => uint256)) public paidOut;

    event SettlementInitiated(uint256 indexed id, address indexed payer, address indexed payee, uint256 amount, bytes32 proofHash);
    event SettlementClaimed(uint256 indexed id, uint256 paid, uint256 burned);
    event SettlementDisputed(uint256 indexed id, address indexed by, bytes32 evidenceHash, bytes evidence);
    event SettlementResolved(uint256 indexed id, uint256 toPayee, uint256 burned, uint256 refunded);
    event SettlementRefunded(uint256 indexed id, uint256 amount);
    event Deposited(address indexed debtor, uint256 amount);
    event WithdrawalRequested(address indexed debtor, uint256 unlockAt);
    event DepositWithdrawn(address indexed debtor, uint256 amount);
    /// burned = paid * BURN_BPS / 10000; the cumulative amount is in the transaction's calldata.
    event ChequeCashed(address indexed debtor, address indexed creditor, uint64 serial, uint256 paid);
    event WindowsSet(uint64 disputeWindow, uint64 claimWindow, uint64 withdrawDelay);
    event DeadlinesSet(uint64 withdrawWindow, uint64 arbitrationWindow);
    event DisputeExpired(uint256 indexed id);

    error BadStatus(Status status);
    error NotParty();
    error TooEarly(uint256 at);
    error TooLate(uint256 at);
    error BadProof();
    error BadSignature();
    error DebtorNotBound(address debtor);
    error ChequeExpired(uint64 expires);
    error StaleCheque(uint256 cumulative, uint256 paid);
    error NothingToPay();
    error ZeroAmount();
    error WithdrawalExpired(uint256 at);
    error DepositHeld(uint256 balance);

    constructor(IERC20 token_, uint64 disputeWindow_, uint64 claimWindow_, uint64 withdrawDelay_, address admin)
        EIP712("ZEONE Settlement", "1")
    {
        token = token_;
        disputeWindow = disputeWindow_;
        claimWindow = claimWindow_;
        withdrawDelay = withdrawDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- seed interface: escrowed settlements

    function initiateSettlement(address payee, uint256 amount, bytes32 proofHash) external nonReentrant returns (uint256 id) {
        if (amount == 0) revert ZeroAmount();
        id = nextId++;
        uint64 claimAfter = uint64(block.timestamp) + disputeWindow;
        settlements[id] = Settlement(msg.sender, claimAfter, 0, payee, claimAfter + claimWindow, Status.Pending, uint128(amount), proofHash);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit SettlementInitiated(id, msg.sender, payee, amount, proofHash);
    }

    /// The payee claims after the dispute window and before the deadline with the preimage of proofHash.
    function claimSettlement(uint256 id, bytes calldata proof) external nonReentrant {
        Settlement storage s = settlements[id];
        if (s.status != Status.Pending) revert BadStatus(s.status);
        if (msg.sender != s.payee) revert NotParty();
        if (block.timestamp < s.claimAfter) revert TooEarly(s.claimAfter);
        if (block.timestamp > s.deadline) revert TooLate(s.deadline);
        if (keccak256(proof) != s.proofHash) revert BadProof();
        s.status = Status.Paid;
        (uint256 net, uint256 burned) = _payWithBurn(s.payee, s.amount);
        emit SettlementClaimed(id, net, burned);
    }

    /// Either party may dispute during the dispute window; the arbiter (governance timelock) resolves it before
    /// `deadline` (now + arbitrationWindow), or anyone ends it with the default outcome after that.
    function disputeSettlement(uint256 id, bytes calldata evidence) external {
        Settlement storage s = settlements[id];
        if (s.status != Status.Pending) revert BadStatus(s.status);
        if (msg.sender != s.payer && msg.sender != s.payee) revert NotParty();
        if (block.timestamp >= s.claimAfter) revert TooLate(s.claimAfter);
        s.status = Status.Disputed;
        s.deadline = uint64(block.timestamp) + arbitrationWindow;
        emit SettlementDisputed(id, msg.sender, keccak256(evidence), evidence);
    }

    /// Pays `payeeBps` of the amount to the payee (20% of that burned) and refunds the rest to the payer.
    function resolveDispute(uint256 id, uint256 payeeBps) external onlyRole(ARBITER_ROLE) nonReentrant {
        _resolve(id, payeeBps);
    }

    /// A dispute nobody resolved within arbitrationWindow: anyone applies the default split (DEFAULT_PAYEE_BPS).
    function expireDispute(uint256 id) external nonReentrant {
        Settlement storage s = settlements[id];
        if (s.status != Status.Disputed) revert BadStatus(s.status);
        if (block.timestamp <= s.deadline) revert TooEarly(s.deadline);
        emit DisputeExpired(id);
        _resolve(id, DEFAULT_PAYEE_BPS);
    }

    function _resolve(uint256 id, uint256 payeeBps) private {
        Settlement storage s = settlements[id];
        if (s.status != Status.Disputed) revert BadStatus(s.status);
        require(payeeBps <= 10_000, "bps");
        s.status = Status.Resolved;
        uint256 toPayee = (uint256(s.amount) * payeeBps) / 10_000;
        uint256 refund = s.amount - toPayee;
        uint256 burned;
        if (toPayee > 0) (, burned) = _payWithBurn(s.payee, toPayee);
        if (refund > 0) token.safeTransfer(s.payer, refund);
        emit SettlementResolved(id, toPayee - burned, burned, refund);
    }

    /// After the deadline an unclaimed, undisputed settlement goes back to the payer.
    function refund(uint256 id) external nonReentrant {
        Settlement storage s = settlements[id];
        if (s.status != Status.Pending) revert BadStatus(s.status);
        if (block.timestamp <= s.deadline) revert TooEarly(s.deadline);
        s.status = Status.Refunded;
        token.safeTransfer(s.payer, s.amount);
        emit SettlementRefunded(id, s.amount);
    }

    // ---------------------------------------------------------------- cheque deposits

    function deposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Deposit storage d = deposits[msg.sender];
        d.balance += uint128(amount);
        d.unlockAt = 0;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount);
    }

    /// Starts the notice period: the deposit can be withdrawn strictly after unlockAt = now + withdrawDelay, until
    /// unlockAt + withdrawWindow. Cheques stay cashable throughout, so creditors cash first; at timestamp unlockAt
    /// itself only cashing is possible, so no block lets a withdrawal race a cheque inside the notice period.
    function requestWithdrawal() external {
        uint64 at = uint64(block.timestamp) + withdrawDelay;
        deposits[msg.sender].unlockAt = at;
        emit WithdrawalRequested(msg.sender, at);
    }

    function withdrawDeposit(uint256 amount) external nonReentrant {
        Deposit storage d = deposits[msg.sender];
        if (d.unlockAt == 0 || block.timestamp <= d.unlockAt) revert TooEarly(d.unlockAt);
        if (block.timestamp > uint256(d.unlockAt) + withdrawWindow) revert WithdrawalExpired(uint256(d.unlockAt) + withdrawWindow);
        if (amount > d.balance) revert NothingToPay();
        d.balance -= uint128(amount);
        token.safeTransfer(msg.sender, amount);
        emit DepositWithdrawn(msg.sender, amount);
    }

    // ---------------------------------------------------------------- cheques

    function chequeDigest(address debtor, address creditor, uint256 cumulativeAmount, uint64 serial, uint64 expires)
        public view returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(CHEQUE_TYPEHASH, debtor, creditor, cumulativeAmount, serial, expires)));
    }

    /// Cashes a cumulative cheque: pays cumulativeAmount minus what was already paid on (debtor, creditor), as far
    /// as the debtor's deposit covers it; 20% is burned, the rest goes to the creditor. Anyone may submit. Only the
    /// cumulative amount decides: the serial is signed (and emitted) but never compared, so a cheque with a huge
    /// serial cannot make the creditor's real cheque stale, and a partly paid cheque stays cashable for the rest.
    function cashCheque(
        address debtor,
        address creditor,
        uint256 cumulativeAmount,
        uint64 serial,
        uint64 expires,
        bytes calldata sig
    ) external nonReentrant returns (uint256 paid) {
        if (expires != 0 && block.timestamp > expires) revert ChequeExpired(expires);
        if (ECDSA.recover(chequeDigest(debtor, creditor, cumulativeAmount, serial, expires), sig) != debtor) {
            revert BadSignature();
        }
        Deposit storage d = deposits[debtor];
        if (!d.bound) revert DebtorNotBound(debtor);
        uint256 already = paidOut[debtor][creditor];
        if (cumulativeAmount <= already) revert StaleCheque(cumulativeAmount, already);
        uint256 due = cumulativeAmount - already;
        paid = due <= d.balance ? due : d.balance;
        if (paid == 0) revert NothingToPay();
        d.balance -= uint128(paid);
        paidOut[debtor][creditor] = already + paid;
        _payWithBurn(creditor, paid);
        emit ChequeCashed(debtor, creditor, serial, paid);
    }

    /// Unbinding while a deposit is held is refused: cheques signed while bound stay cashable until the deposit has
    /// left through the withdrawal notice period.
    function _onBindingChanged(address account, bool bound) internal override {
        Deposit storage d = deposits[account];
        if (!bound && d.balance > 0) revert DepositHeld(d.balance);
        d.bound = bound;
    }

    function setWindows(uint64 disputeWindow_, uint64 claimWindow_, uint64 withdrawDelay_)
        external onlyRole(DEFAULT_ADMIN_ROLE)
    {
        disputeWindow = disputeWindow_;
        claimWindow = claimWindow_;
        withdrawDelay = withdrawDelay_;
        emit WindowsSet(disputeWindow_, claimWindow_, withdrawDelay_);
    }

    function setDeadlines(uint64 withdrawWindow_, uint64 arbitrationWindow_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (withdrawWindow_ == 0 || arbitrationWindow_ == 0) revert ZeroAmount();
        withdrawWindow = withdrawWindow_;
        arbitrationWindow = arbitrationWindow_;
        emit DeadlinesSet(withdrawWindow_, arbitrationWindow_);
    }

    function _payWithBurn(address to, uint256 amount) private returns (uint256 net, uint256 burned) {
        burned = (amount * BURN_BPS) / 10_000;
        net = amount - burned;
        if (burned > 0) IBurnableToken(address(token)).burn(burned);
        token.safeTransfer(to, net);
    }
}
