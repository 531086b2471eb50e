-- Dolev-Yao model of the ZEONE handshake (HELLO / HELLO_ACK / VERIFY, docs/protocol.md §4.4), version and suite
-- negotiation, the responder's HELLO-nonce replay store across restarts, and the data phase's per-direction
-- sequence numbers (§4.2, §4.3, §4.5). Checked with Rumur (Debian package `rumur`); formal/run.mjs runs every
-- configuration (design and flawed variants) by rewriting the `const` lines marked @config below.
-- docs/formal.md explains the abstractions, the bounds and maps each rule to the code.
--
-- Message fields, as they appear on the wire (the test test/formal/models.test.ts compares these tables with the
-- CBOR schemas of src/wire/handshake-messages.ts; `modelled` = a field of the records below, `opaque` = carried
-- under both signatures but with no effect on any checked decision, so it is not represented):
--
-- @fields HELLO
--   node_id            modelled  Hello.nid
--   ephemeral          modelled  Hello.eph
--   supported_versions modelled  Hello.vcfg (with preferred_version)
--   preferred_version  modelled  Hello.vcfg
--   capabilities       opaque    under the transcript; no decision depends on it
--   suites             modelled  Hello.smask
--   listen_port        opaque    under the transcript; no decision depends on it
--   timestamp          opaque    skew check abstracted: every replay is assumed to arrive inside the 30 s window
--   nonce              modelled  Hello.nonce (replay store key)
--   max_frame          opaque    under the transcript; only a lower bound is checked
-- @end
-- @fields HELLO_ACK
--   node_id            modelled  Ack.nid
--   ephemeral          modelled  Ack.eph
--   supported_versions modelled  Ack.vmask
--   version            modelled  Ack.version
--   suite              modelled  Ack.suite
--   capabilities       opaque    under the transcript; no decision depends on it
--   listen_port        opaque    under the transcript; no decision depends on it
--   timestamp          opaque    skew check abstracted
--   nonce              modelled  Ack.nonce
--   max_frame          opaque    under the transcript; only a lower bound is checked
--   signature          modelled  Init.sigR (which signature term the ACK carried)
-- @end
-- @fields VERIFY
--   signature          modelled  rule "intruder sends VERIFY" (which signature term)
-- @end

const
  -- @config begin (formal/run.mjs rewrites these per configuration)
  FLAW_VERSIONS_UNSIGNED: 0;  -- 1: version fields are left out of th1/th2 (and so out of both signatures)
  FLAW_SIGN_OWN_NONCE: 0;     -- 1: Sig_R covers only the ACK nonce, Sig_I only the HELLO nonce (original Python design)
  FLAW_NO_SEQ_CHECK: 0;       -- 1: the data-phase receiver does not check seq against the last accepted one
  STORE_MODE: 1;              -- replay store: 0 memory only (lost on any restart), 1 as coded (saved every
                              -- replayFilterSaveMs and on stop, so kill -9 loses the unsaved tail), 2 written
                              -- through before each HELLO_ACK (nothing is lost)
  RESTARTS: 1;                -- restarts (graceful stop or kill -9) of responder nodes, in total
  TAMPER: 1;                  -- 0: the intruder only forwards, replays and drops (used to show a flaw needs no more)
  DATA_PHASE: 1;              -- 0: stop at the established sessions (no data frames)
  FRAMES: 2;                  -- data frames each side may send per session
  SAME_RESPONDER: 0;          -- 1: only the sessions cs = 0 (both responder sessions are node B's)
  CHECK_SECRECY: 1;
  CHECK_AGREE_I: 1;
  CHECK_AGREE_R: 1;
  CHECK_NO_DOWNGRADE: 1;
  CHECK_NO_REPLAY_SESSION: 1;
  CHECK_NO_REPLAY_ANSWER: 0;        -- no second HELLO_ACK for a nonce at one node, even after kill -9
  CHECK_NO_REPLAY_ANSWER_CLEAN: 1;  -- the same, for nodes that were never killed with kill -9
  CHECK_DATA_ORDER: 1;
  CHECK_DATA_NO_GAP: 0;             -- every accepted frame is the next one sent (no frame silently dropped)
  -- @config end

  NI: 2;           -- initiator sessions
  NR: 2;           -- responder sessions
  AG_A: 0; AG_B: 1; AG_M: 2;   -- honest nodes A, B; the intruder M
  EPH_M: 4;        -- the intruder's ephemeral key (it knows the secret); honest: initiator i -> i, responder r -> NI+r
  NONCE_M: 4;      -- the intruder's nonce; honest ones numbered like the ephemerals
  SIG_M: 2;        -- a signature made by the intruder with its own identity key (over anything it likes)

type
  Agent: 0..2;
  Honest: 0..1;
  IIdx: 0..NI-1;
  RIdx: 0..NR-1;
  Eph: 0..4;
  Nonce: 0..4;
  VMask: 1..3;     -- bit 0: version 1, bit 1: version 2
  VCfg: 0..3;      -- (supported, preferred): 0 ([1],1)  1 ([2],2)  2 ([2,1],1)  3 ([2,1],2)
  SMask: 1..3;     -- bit 0: chacha20-poly1305, bit 1: aes-256-gcm
  SPref: 0..3;     -- responder preference list: 0 [chacha] 1 [gcm] 2 [chacha, gcm] 3 [gcm, chacha]
  Version: 0..2;   -- 0: none
  Suite: 0..2;     -- 0: none, 1 chacha20-poly1305, 2 aes-256-gcm
  SigRef: 0..2;    -- ACK signature: responder session r, or SIG_M; VERIFY signature: initiator session i, or SIG_M
  Seq: 0..2;       -- FRAMES

  Hello: record
    nid: Agent; eph: Eph; vcfg: VCfg; smask: SMask; nonce: Nonce;
  end;
  Ack: record     -- the ACK core (what th2 hashes); the signature is kept beside it
    nid: Agent; eph: Eph; vmask: VMask; version: Version; suite: Suite; nonce: Nonce;
  end;

  IStatus: enum { I_IDLE, I_WAIT_ACK, I_DONE, I_FAILED };
  RStatus: enum { R_IDLE, R_WAIT_VERIFY, R_DONE, R_FAILED };

  Data: record    -- one direction's receive state plus ghost history for the data properties
    sent: Seq;          -- frames this side has sent (its next seq)
    last: 0..3;         -- 1 + last accepted seq (0: none yet), i.e. V2Opener#last + 1
    ghostMax: 0..3;     -- 1 + highest seq ever accepted (ghost)
    ghostBad: boolean;  -- a frame with seq <= an earlier accepted one was accepted (replay / reorder)
    ghostGap: boolean;  -- a frame was accepted that was not the next one sent
  end;

  Init: record
    st: IStatus; owner: Honest;
    hello: Hello; ack: Ack; sigR: SigRef;
    d: Data;
  end;
  Resp: record
    st: RStatus; owner: Honest; answered: boolean;
    ghostReplay: boolean;   -- ghost: its node had already answered this HELLO nonce
    hello: Hello; ack: Ack; sigI: SigRef;
    d: Data;
  end;
  Node: record
    vcfg: VCfg; spref: SPref;
    seen: array[Nonce] of boolean;    -- the replay store in memory
    killed: boolean;                  -- ghost: this node was killed with kill -9
    everAnswered: array[Nonce] of boolean;  -- ghost: nonces this node sent a HELLO_ACK for
    ghostReplayAnswered: boolean;     -- ghost: it sent a second HELLO_ACK for one nonce
  end;

var
  ini: array[IIdx] of Init;
  rsp: array[RIdx] of Resp;
  node: array[Honest] of Node;
  knowsEph: array[Eph] of boolean;     -- intruder knowledge: public values seen on the wire
  knowsNonce: array[Nonce] of boolean;
  restarts: 0..2;

-- ---- negotiation, exactly as src/wire/handshake.ts chooseVersion / onHello ----

function vmaskOf(c: VCfg): VMask;
begin
  if c = 0 then return 1; elsif c = 1 then return 2; else return 3; endif;
end;

function prefOf(c: VCfg): Version;
begin
  if c = 0 | c = 2 then return 1; else return 2; endif;
end;

function hasV(m: VMask; v: Version): boolean;
begin
  if v = 1 then return m = 1 | m = 3; elsif v = 2 then return m = 2 | m = 3; else return false; endif;
end;

-- highest common version not above the initiator's preferred one, else the highest common one, else 0
function chooseVersion(ic: VCfg; rm: VMask): Version;
var best: Version;
begin
  best := 0;
  if hasV(vmaskOf(ic), 2) & hasV(rm, 2) & 2 <= prefOf(ic) then return 2; endif;
  if hasV(vmaskOf(ic), 1) & hasV(rm, 1) then return 1; endif;
  if hasV(vmaskOf(ic), 2) & hasV(rm, 2) then return 2; endif;
  return best;
end;

function hasS(m: SMask; s: Suite): boolean;
begin
  if s = 1 then return m = 1 | m = 3; elsif s = 2 then return m = 2 | m = 3; else return false; endif;
end;

function smaskOf(p: SPref): SMask;
begin
  if p = 0 then return 1; elsif p = 1 then return 2; else return 3; endif;
end;

-- the first suite in the responder's preference order that the HELLO offers, else 0
function chooseSuite(offered: SMask; p: SPref): Suite;
begin
  if p = 0 then if hasS(offered, 1) then return 1; endif;
  elsif p = 1 then if hasS(offered, 2) then return 2; endif;
  elsif p = 2 then if hasS(offered, 1) then return 1; elsif hasS(offered, 2) then return 2; endif;
  else if hasS(offered, 2) then return 2; elsif hasS(offered, 1) then return 1; endif;
  endif;
  return 0;
end;

-- ---- transcript hashes as terms: equal hashes <=> equal hashed fields ----

function sameHelloHashed(x: Hello; y: Hello): boolean;
begin
  if FLAW_VERSIONS_UNSIGNED = 1 then
    return x.nid = y.nid & x.eph = y.eph & x.smask = y.smask & x.nonce = y.nonce;
  endif;
  return x = y;
end;

function sameAckHashed(x: Ack; y: Ack): boolean;
begin
  if FLAW_VERSIONS_UNSIGNED = 1 then
    return x.nid = y.nid & x.eph = y.eph & x.suite = y.suite & x.nonce = y.nonce;
  endif;
  return x = y;
end;

-- Does the ACK signature `s` verify under ack.node_id over the th2 the initiator computes from (h, a)?
-- Honest Sig_R of responder session r = Ed25519_owner(r)("ZEONE-HS-ACK\0" || th2(r.hello, r.ack)).
function ackSigValid(h: Hello; a: Ack; s: SigRef): boolean;
begin
  if s = SIG_M then return a.nid = AG_M; endif;     -- the intruder signs whatever th2 it needs, with its key only
  if !rsp[s].answered | a.nid != rsp[s].owner then return false; endif;
  if FLAW_SIGN_OWN_NONCE = 1 then return a.nonce = rsp[s].ack.nonce; endif;
  return sameHelloHashed(h, rsp[s].hello) & sameAckHashed(a, rsp[s].ack);
end;

-- Does the VERIFY signature `s` verify under hello.node_id over th3 = H(th2 || Sig_R) of responder session r?
function verifySigValid(r: RIdx; s: SigRef): boolean;
begin
  if s = SIG_M then return rsp[r].hello.nid = AG_M; endif;
  if ini[s].st != I_DONE | rsp[r].hello.nid != ini[s].owner then return false; endif;
  if FLAW_SIGN_OWN_NONCE = 1 then return rsp[r].hello.nonce = ini[s].hello.nonce; endif;
  return sameHelloHashed(rsp[r].hello, ini[s].hello) & sameAckHashed(rsp[r].ack, ini[s].ack) & ini[s].sigR = r;
end;

-- Session keys are HKDF(X25519(e_I, E_R), th3): initiator i and responder r share keys iff they used the same two
-- ephemerals and the same th3.
function sameKeys(i: IIdx; r: RIdx): boolean;
begin
  return ini[i].st = I_DONE & rsp[r].st = R_DONE & ini[i].hello.eph = rsp[r].hello.eph & ini[i].ack.eph = rsp[r].ack.eph
    & sameHelloHashed(ini[i].hello, rsp[r].hello) & sameAckHashed(ini[i].ack, rsp[r].ack) & ini[i].sigR = r;
end;

-- A data frame (seq) with a key the receiver holds: accept or refuse as V1Opener/V2Opener.open do.
procedure deliver(var d: Data; seq: Seq);
begin
  if FLAW_NO_SEQ_CHECK = 0 & seq + 1 <= d.last then return; endif;   -- replayed_seq: the connection is dropped
  if seq + 1 <= d.ghostMax then d.ghostBad := true; endif;
  if seq != d.last then d.ghostGap := true; endif;
  d.last := seq + 1;
  if seq + 1 > d.ghostMax then d.ghostMax := seq + 1; endif;
end;

-- A refused or aborted responder session keeps only "answered" (its Sig_R stays in the intruder's knowledge).
procedure failResponder(r: RIdx);
begin
  rsp[r].st := R_FAILED;
end;

procedure clearData(var d: Data);
begin
  d.sent := 0; d.last := 0; d.ghostMax := 0; d.ghostBad := false; d.ghostGap := false;
end;

-- ---- start states: node configurations and session owners ----
-- Node A: versions [2,1] preferred 2, suites [chacha, gcm]. Node B: one of three configurations that make the
-- negotiation rules matter (a preference below the maximum, a v1-only node, a different suite order).
-- Sessions (initiators; responders): cs = 0 (A, A; B, B): two dialers on one node, one listener answering both;
-- cs = 1 (A, B; A, B): both nodes dial and listen. (B dialing B's listener is the A/A case by symmetry.)

function bVcfg(c: 0..2): VCfg; begin if c = 0 then return 3; elsif c = 1 then return 2; else return 0; endif; end;
function bSpref(c: 0..2): SPref; begin if c = 0 then return 3; elsif c = 1 then return 1; else return 2; endif; end;

ruleset cb: 0..2; cs: 0..1 do
startstate "configuration"
  for h: Honest do
    for n: Nonce do node[h].seen[n] := false; node[h].everAnswered[n] := false; end;
    node[h].killed := false; node[h].ghostReplayAnswered := false;
  end;
  node[AG_A].vcfg := 3; node[AG_A].spref := 2;
  node[AG_B].vcfg := bVcfg(cb); node[AG_B].spref := bSpref(cb);
  for i: IIdx do
    ini[i].st := I_IDLE; ini[i].sigR := SIG_M;
    ini[i].hello.nid := 0; ini[i].hello.eph := 0; ini[i].hello.vcfg := 0; ini[i].hello.smask := 1; ini[i].hello.nonce := 0;
    ini[i].ack.nid := 0; ini[i].ack.eph := 0; ini[i].ack.vmask := 1; ini[i].ack.version := 0; ini[i].ack.suite := 0; ini[i].ack.nonce := 0;
    clearData(ini[i].d);
  end;
  ini[0].owner := AG_A; ini[1].owner := (cs = 0 ? AG_A : AG_B);
  -- HandshakeInitiator.hello(): a fresh ephemeral and nonce. Every initiator has sent its HELLO at the start: sending
  -- it earlier only gives the intruder its (public) values sooner, and the intruder decides when anything arrives.
  for i: IIdx do
    ini[i].st := I_WAIT_ACK;
    ini[i].hello.nid := ini[i].owner; ini[i].hello.eph := i; ini[i].hello.vcfg := node[ini[i].owner].vcfg;
    ini[i].hello.smask := smaskOf(node[ini[i].owner].spref); ini[i].hello.nonce := i;
  end;
  for r: RIdx do
    rsp[r].st := R_IDLE; rsp[r].answered := false; rsp[r].sigI := SIG_M; rsp[r].ghostReplay := false;
    rsp[r].hello.nid := 0; rsp[r].hello.eph := 0; rsp[r].hello.vcfg := 0; rsp[r].hello.smask := 1; rsp[r].hello.nonce := 0;
    rsp[r].ack.nid := 0; rsp[r].ack.eph := 0; rsp[r].ack.vmask := 1; rsp[r].ack.version := 0; rsp[r].ack.suite := 0; rsp[r].ack.nonce := 0;
    clearData(rsp[r].d);
  end;
  rsp[0].owner := (cs = 0 ? AG_B : AG_A); rsp[1].owner := AG_B;
  if SAME_RESPONDER = 1 then ini[1].owner := AG_A; rsp[0].owner := AG_B; endif;
  for e: Eph do knowsEph[e] := (e = EPH_M | e < NI); end;
  for n: Nonce do knowsNonce[n] := (n = NONCE_M | n < NI); end;
  restarts := 0;
endstartstate;
endruleset;

-- ---- honest initiator ----

-- The intruder delivers a HELLO_ACK: an ACK core it saw (responder session b) forwarded as is (t = 0) or with one
-- field rewritten (t = 1 versions [1] and choice 1, 2 versions [2,1] and choice 1, 3 the other suite, 4 ephemeral :=
-- its own, 5 node id := the other honest node), or its own core (b = NR, node id t), with any signature it has seen
-- or its own. HandshakeInitiator.onHelloAck decides.
ruleset i: IIdx; b: 0..NR; t: 0..5; sg: SigRef do
rule "intruder sends HELLO_ACK"
  ini[i].st = I_WAIT_ACK & ((b < NR & rsp[b].answered & (t = 0 | TAMPER = 1)) | (b = NR & t <= 2))
  & (sg = SIG_M | (sg < NR & rsp[sg].answered))
==>
var a: Ack;
begin
  if b < NR then
    a := rsp[b].ack;
    if t = 1 then a.vmask := 1; a.version := 1;
    elsif t = 2 then a.vmask := 3; a.version := 1;
    elsif t = 3 then a.suite := 3 - a.suite;
    elsif t = 4 then a.eph := EPH_M;
    elsif t = 5 then a.nid := 1 - a.nid;
    endif;
  else
    a.nid := t; a.eph := EPH_M; a.vmask := 3; a.version := chooseVersion(ini[i].hello.vcfg, 3);
    a.suite := (hasS(ini[i].hello.smask, 1) ? 1 : 2); a.nonce := NONCE_M;
  endif;
  if a.nid = ini[i].owner                                                    -- self_connect
     | !ackSigValid(ini[i].hello, a, sg)                                       -- transcript_mismatch
     | a.version != chooseVersion(ini[i].hello.vcfg, a.vmask)                  -- no_common_version / downgrade
     | !hasS(ini[i].hello.smask, a.suite)                                      -- no_common_suite
  then
    ini[i].st := I_FAILED;    -- the connection is closed; nothing of it is kept
  else
    ini[i].st := I_DONE; ini[i].ack := a; ini[i].sigR := sg;     -- sends VERIFY: the intruder learns Sig_I
  endif;
endrule;
endruleset;

-- ---- honest responder ----

-- The intruder delivers a HELLO to a fresh responder session: a HELLO it saw (initiator session b) as is (t = 0) or
-- with one field rewritten (t = 1 versions [1], 2 versions [2,1] preferring 1, 3 suites [chacha], 4 suites [gcm],
-- 5 ephemeral := its own, 6 node id := the other honest node), or its own HELLO (b = NI) as node M.
-- HandshakeResponder.onHello decides.
ruleset r: RIdx; b: 0..NI; t: 0..6; n: 0..0 do
rule "intruder sends HELLO"
  rsp[r].st = R_IDLE
  & ((b < NI & n = 0 & (t = 0 | TAMPER = 1)) | (b = NI & t = 0 & n = 0))
==>
var h: Hello; own: Honest; v: Version; s: Suite;
begin
  if b < NI then
    h := ini[b].hello;
    if t = 1 then h.vcfg := 0;
    elsif t = 2 then h.vcfg := 2;
    elsif t = 3 then h.smask := 1;
    elsif t = 4 then h.smask := 2;
    elsif t = 5 then h.eph := EPH_M;
    elsif t = 6 then h.nid := 1 - h.nid;
    endif;
  else
    h.nid := AG_M; h.eph := EPH_M; h.vcfg := 3; h.smask := 3; h.nonce := NONCE_M;
  endif;
  own := rsp[r].owner;
  v := chooseVersion(h.vcfg, vmaskOf(node[own].vcfg));
  s := chooseSuite(h.smask, node[own].spref);
  if h.nid = own | v = 0 | s = 0 then
    rsp[r].st := R_FAILED;                                           -- self_connect / no_common_version / no_common_suite
  elsif node[own].seen[h.nonce] then
    rsp[r].st := R_FAILED;                                           -- replayed_hello
  else
    node[own].seen[h.nonce] := true;
    if node[own].everAnswered[h.nonce] then node[own].ghostReplayAnswered := true; rsp[r].ghostReplay := true; endif;
    node[own].everAnswered[h.nonce] := true;
    rsp[r].st := R_WAIT_VERIFY; rsp[r].answered := true; rsp[r].hello := h;
    rsp[r].ack.nid := own; rsp[r].ack.eph := NI + r; rsp[r].ack.vmask := vmaskOf(node[own].vcfg);
    rsp[r].ack.version := v; rsp[r].ack.suite := s; rsp[r].ack.nonce := NI + r;
    knowsEph[NI + r] := true; knowsNonce[NI + r] := true;
  endif;
endrule;
endruleset;

-- The intruder delivers a VERIFY carrying a signature it has seen (some initiator's Sig_I) or made itself.
ruleset r: RIdx; sg: SigRef do
rule "intruder sends VERIFY"
  rsp[r].st = R_WAIT_VERIFY & (sg = SIG_M | (sg < NI & ini[sg].st = I_DONE))
==>
  if verifySigValid(r, sg) then rsp[r].st := R_DONE; rsp[r].sigI := sg; else failResponder(r); endif;
endrule;
endruleset;

-- ---- the responder node's replay store and restarts ----

-- Node B restarts (the node that answers both responder sessions when cs = 0). A restart ends the node's handshakes
-- in progress; the new process starts from what is on disk. The periodic save
-- (every replayFilterSaveMs) is folded into kill -9: the nonces that survive are any subset of those seen (the real
-- ones, those seen before the last save, are one such subset), so the model covers every save timing at once.
ruleset h: Honest do
rule "graceful restart (stop saves the store)"
  restarts < RESTARTS & h = AG_B
==>
  restarts := restarts + 1;
  for r: RIdx do if rsp[r].owner = h & rsp[r].st = R_WAIT_VERIFY then failResponder(r); endif; end;
  if STORE_MODE = 0 then for n: Nonce do node[h].seen[n] := false; end; endif;
endrule;
endruleset;

ruleset h: Honest; keep: 0..7 do
rule "kill -9 restart (unsaved nonces lost)"
  restarts < RESTARTS & h = AG_B & (STORE_MODE = 1 | keep = 0)
==>
  restarts := restarts + 1; node[h].killed := true;
  for r: RIdx do if rsp[r].owner = h & rsp[r].st = R_WAIT_VERIFY then failResponder(r); endif; end;
  if STORE_MODE = 0 then for n: Nonce do node[h].seen[n] := false; end; endif;
  if STORE_MODE = 1 then
    -- only HELLO nonces are ever stored: the initiators' (0, 1) and the intruder's; keep bit 0, 1, 2 for them
    if keep % 2 = 0 then node[h].seen[0] := false; endif;
    if (keep / 2) % 2 = 0 then node[h].seen[1] := false; endif;
    if (keep / 4) % 2 = 0 then node[h].seen[NONCE_M] := false; endif;
  endif;
endrule;
endruleset;

-- ---- data phase: per-direction seq, frames are atomic AEAD terms the intruder can replay and reorder ----

ruleset i: IIdx do
rule "initiator sends a data frame"
  DATA_PHASE = 1 & ini[i].st = I_DONE & ini[i].d.sent < FRAMES & exists r: RIdx do sameKeys(i, r) endexists
==>
  ini[i].d.sent := ini[i].d.sent + 1;
endrule;
endruleset;

ruleset r: RIdx do
rule "responder sends a data frame"
  DATA_PHASE = 1 & rsp[r].st = R_DONE & rsp[r].d.sent < FRAMES & exists i: IIdx do sameKeys(i, r) endexists
==>
  rsp[r].d.sent := rsp[r].d.sent + 1;
endrule;
endruleset;

-- The intruder delivers a frame it saw (seq < sent) to a session holding the same keys; a frame under any other key
-- fails the AEAD tag (bad_mac) and is not modelled as a step.
ruleset i: IIdx; r: RIdx; q: 0..FRAMES-1 do
rule "intruder delivers an i2r frame"
  sameKeys(i, r) & q < ini[i].d.sent
==>
  deliver(rsp[r].d, q);
endrule;

rule "intruder delivers an r2i frame"
  sameKeys(i, r) & q < rsp[r].d.sent
==>
  deliver(ini[i].d, q);
endrule;
endruleset;

-- ---- properties ----

function honest(a: Agent): boolean; begin return a != AG_M; end;

invariant "secrecy: a session with an honest peer has keys the intruder cannot derive"
  CHECK_SECRECY = 0 | (
    (forall i: IIdx do ini[i].st = I_DONE & honest(ini[i].ack.nid) -> ini[i].ack.eph != EPH_M endforall)
  & (forall r: RIdx do rsp[r].st = R_DONE & honest(rsp[r].hello.nid) -> rsp[r].hello.eph != EPH_M endforall));

invariant "initiator agreement: an honest peer ran one matching responder session (ids, version, suite, transcript)"
  CHECK_AGREE_I = 0 |
    (forall i: IIdx do ini[i].st = I_DONE & honest(ini[i].ack.nid) ->
       (ini[i].sigR != SIG_M & rsp[ini[i].sigR].answered & rsp[ini[i].sigR].owner = ini[i].ack.nid
        & rsp[ini[i].sigR].hello = ini[i].hello & rsp[ini[i].sigR].ack = ini[i].ack
        & (forall j: IIdx do (j != i & ini[j].st = I_DONE) -> ini[j].sigR != ini[i].sigR endforall))
     endforall);

invariant "responder agreement: an honest peer ran one matching initiator session (ids, version, suite, transcript)"
  CHECK_AGREE_R = 0 |
    (forall r: RIdx do rsp[r].st = R_DONE & honest(rsp[r].hello.nid) ->
       (rsp[r].sigI != SIG_M & ini[rsp[r].sigI].st = I_DONE & ini[rsp[r].sigI].owner = rsp[r].hello.nid
        & ini[rsp[r].sigI].hello = rsp[r].hello & ini[rsp[r].sigI].ack = rsp[r].ack & ini[rsp[r].sigI].sigR = r
        & (forall s: RIdx do (s != r & rsp[s].st = R_DONE) -> rsp[s].sigI != rsp[r].sigI endforall))
     endforall);

invariant "no downgrade: between honest nodes the negotiated version and suite are those both configurations give"
  CHECK_NO_DOWNGRADE = 0 | (
    (forall i: IIdx do ini[i].st = I_DONE & honest(ini[i].ack.nid) ->
       (ini[i].ack.version = chooseVersion(node[ini[i].owner].vcfg, vmaskOf(node[ini[i].ack.nid].vcfg))
        & ini[i].ack.suite = chooseSuite(smaskOf(node[ini[i].owner].spref), node[ini[i].ack.nid].spref)) endforall)
  & (forall r: RIdx do rsp[r].st = R_DONE & honest(rsp[r].hello.nid) ->
       (rsp[r].ack.version = chooseVersion(node[rsp[r].hello.nid].vcfg, vmaskOf(node[rsp[r].owner].vcfg))
        & rsp[r].ack.suite = chooseSuite(smaskOf(node[rsp[r].hello.nid].spref), node[rsp[r].owner].spref)) endforall));

invariant "no replayed HELLO completes a session (also across restarts)"
  CHECK_NO_REPLAY_SESSION = 0 | (
    -- a session completes for a HELLO nonce its node had answered before only when the initiator that sent the
    -- HELLO completed with exactly this session (the first answer died with a restart before any session) ...
    (forall r: RIdx do (rsp[r].st = R_DONE & honest(rsp[r].hello.nid) & rsp[r].ghostReplay) ->
       (rsp[r].sigI != SIG_M & ini[rsp[r].sigI].sigR = r & ini[rsp[r].sigI].hello = rsp[r].hello) endforall)
    -- ... and no two sessions, on any nodes, complete for one honest HELLO nonce
  & (forall r: RIdx do forall s: RIdx do
       (r != s & rsp[r].st = R_DONE & rsp[s].st = R_DONE & honest(rsp[r].hello.nid) & honest(rsp[s].hello.nid))
       -> rsp[r].hello.nonce != rsp[s].hello.nonce endforall endforall));

invariant "no HELLO_ACK for a replayed HELLO (a node answers each nonce once, even across kill -9)"
  CHECK_NO_REPLAY_ANSWER = 0 | (forall h: Honest do !node[h].ghostReplayAnswered endforall);

invariant "no HELLO_ACK for a replayed HELLO at a node never killed with kill -9"
  CHECK_NO_REPLAY_ANSWER_CLEAN = 0 | (forall h: Honest do node[h].killed | !node[h].ghostReplayAnswered endforall);

invariant "data: no replayed or reordered frame is accepted"
  CHECK_DATA_ORDER = 0 | (
    (forall i: IIdx do !ini[i].d.ghostBad endforall) & (forall r: RIdx do !rsp[r].d.ghostBad endforall));

invariant "data: every accepted frame is the next one the peer sent (no silent drop)"
  CHECK_DATA_NO_GAP = 0 | (
    (forall i: IIdx do !ini[i].d.ghostGap endforall) & (forall r: RIdx do !rsp[r].d.ghostGap endforall));
