//! Frame kinds, daemon control codes and request codes.

/// What a frame carries.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A user message (pvm_send & co.), routed by `dst`.
    Msg = 1,
    /// A request from a task to its daemon; `tag` is the [`Req`] code.
    Req = 2,
    /// The daemon's answer to a request with the same `wid`.
    Reply = 3,
    /// Daemon to daemon: a request served for a task of another host
    /// (`tag` the [`Req`] code, `src` the requesting task, `wid` the
    /// forwarding daemon's request id). Only on authenticated TCP links.
    DReq = 4,
    /// Daemon to daemon: the answer to the [`Kind::DReq`] with the same `wid`.
    DReply = 5,
    /// Daemon to daemon control (`tag` a [`Ctl`] code).
    Ctl = 6,
}

/// Control codes of [`Kind::Ctl`] frames between daemons (docs/PROTOCOL.md,
/// "Daemon links").
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctl {
    /// Master to a new slave: its index and the host table.
    Place = 1,
    /// Master to slaves: the host table after a change.
    Table = 2,
    /// Keeps an idle link alive.
    Heartbeat = 3,
    /// Master to a slave: stop (kill the tasks, exit).
    Halt = 4,
    /// Acceptor to connector: this link is kept; frames may flow.
    LinkOk = 5,
    /// Tell me when your task (body: tid) exits.
    Watch = 6,
    /// A watched task (body: tid) exited or never existed.
    TaskGone = 7,
    /// The full sibling list of a spawn spread over several hosts.
    Siblings = 8,
    /// Slave to master: lines a task of the slave wrote to stdout/stderr
    /// while its output goes to the log (body: tid, the lines as bytes).
    Output = 9,
    /// Who the resource manager is (body: its tid, 0 for none): a slave
    /// tells the master, the master every slave.
    Rm = 10,
    /// On a task's connection whose frames go through shared memory (see
    /// `crate::ring`): there is something in the ring for you, or room
    /// again. No body.
    Doorbell = 11,
    /// Daemon to one of its tasks: the task in the body (a tid of another
    /// host) has a feed into this daemon, so messages for it sent through
    /// this daemon go back on that feed (docs/PROTOCOL.md "Feeds").
    ReplyVia = 12,
    /// Master to a slave (tree start-up, docs/LAUNCH.md): run the remote
    /// shell for a host and relay its reply line (body: start id, host to
    /// reach, login or "", remote command).
    StartHost = 13,
    /// Slave to master: the reply line of a StartHost (body: start id, the
    /// line; `pvm6 error ...` when the remote shell gave none).
    Started = 14,
    /// Master to its successor: the master-only state (body: sequence
    /// number, then the snapshot; docs/PROTOCOL.md "Succession").
    Replica = 15,
    /// Successor to master: the replica with this sequence number is kept.
    ReplicaAck = 16,
    /// A successor taking over: follow me (body: the new epoch).
    Claim = 17,
    /// Answer to a Claim: following (body: the epoch).
    Follow = 18,
    /// Daemon to daemon, the last frame on a protected link: I refused a
    /// frame of yours (src/seal.rs) and end this link; close it and send
    /// on a new one. No body.
    Relink = 19,
    /// The machine's registered tracer (src/daemon/trace.rs; body: its tid
    /// and 1, then its trace context and tag, output context and tag, mask,
    /// buffer and options; or a tid and 0: that tracer is gone): a slave
    /// tells the master, the master every slave.
    Tracer = 20,
    /// Flow control (src/daemon/flow.rs; body: a task tid): the queue
    /// toward that task is over the cap here; hold back your messages for
    /// it (your local senders wait) until Ready, or until this is not
    /// repeated for a while.
    Busy = 21,
    /// Flow control: the queue toward the task of a Busy has drained; send
    /// again (body: the task tid).
    Ready = 22,
}

impl Ctl {
    /// The control code `v`.
    pub fn from_i32(v: i32) -> Option<Ctl> {
        use Ctl::*;
        Some(match v {
            1 => Place,
            2 => Table,
            3 => Heartbeat,
            4 => Halt,
            5 => LinkOk,
            6 => Watch,
            7 => TaskGone,
            8 => Siblings,
            9 => Output,
            10 => Rm,
            11 => Doorbell,
            12 => ReplyVia,
            13 => StartHost,
            14 => Started,
            15 => Replica,
            16 => ReplicaAck,
            17 => Claim,
            18 => Follow,
            19 => Relink,
            20 => Tracer,
            21 => Busy,
            22 => Ready,
            _ => return None,
        })
    }
}

impl Kind {
    pub(super) fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Msg),
            2 => Some(Kind::Req),
            3 => Some(Kind::Reply),
            4 => Some(Kind::DReq),
            5 => Some(Kind::DReply),
            6 => Some(Kind::Ctl),
            _ => None,
        }
    }
}

/// Request codes of task-to-daemon requests (the `tag` of Req/Reply frames).
/// Arguments and results of each are listed in docs/PROTOCOL.md.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Req {
    Connect = 1,
    Exit = 2,
    Spawn = 3,
    Kill = 4,
    SendSig = 5,
    Config = 6,
    Tasks = 7,
    Pstat = 8,
    Mstat = 9,
    Halt = 10,
    NewContext = 11,
    FreeContext = 12,
    /// pvm_putinfo / pvm_insert: store a message in the mailbox.
    MboxPut = 20,
    /// pvm_recvinfo / pvm_lookup: copy (or take) a mailbox entry.
    MboxRecv = 21,
    /// pvm_delinfo / pvm_delete: remove a mailbox entry.
    MboxDel = 22,
    /// pvm_getmboxinfo: list the mailbox classes matching a pattern.
    MboxInfo = 23,
    /// Direct routes (docs/PROTOCOL.md "Direct routes"): a task reports a
    /// link it opened to a peer. No reply.
    RouteAdd = 50,
    /// A task reports that its link to a peer closed. No reply.
    RouteDelete = 51,
    /// First frame each side writes on a direct link (never sent to a daemon).
    RouteHello = 52,
    /// The TCP addresses of another host's daemon (body: its host part or
    /// daemon tid; reply: the addresses, comma-separated), for a feed
    /// (docs/PROTOCOL.md "Feeds").
    DaemonAddr = 53,
    /// pvm_notify registration or cancel (docs/PROTOCOL.md).
    Notify = 30,
    /// The task's own output destination changed (PvmSelfOutputTid & co.).
    SetOutput = 31,
    // Misc requests (40-49): see docs/PROTOCOL.md.
    HostSync = 40,
    Tickle = 41,
    NoReset = 42,
    GetNoResets = 43,
    RegTasker = 44,
    RegHoster = 45,
    RegRm = 46,
    /// pvm_reg_tracer: register (int 1, then the settings) or give up (int 0)
    /// the role of the machine's tracer (src/daemon/trace.rs).
    RegTracer = 47,
    /// pvm_addhosts (served by the master): host lines in hostfile syntax.
    AddHosts = 60,
    /// pvm_delhosts (served by the master): host names.
    DelHosts = 61,
    // Dynamic groups (70-77), served by the master daemon: docs/PROTOCOL.md.
    /// pvm_joingroup.
    GroupJoin = 70,
    /// pvm_lvgroup.
    GroupLeave = 71,
    /// pvm_gettid.
    GroupTid = 72,
    /// pvm_getinst.
    GroupInst = 73,
    /// pvm_gsize.
    GroupSize = 74,
    /// pvm_barrier: replied at once; the release is a message.
    GroupBarrier = 75,
    /// The members of a group (for bcast, reduce, gather, scatter).
    GroupMembers = 76,
    /// pvm_freezegroup: replied at once; the release is a message.
    GroupFreeze = 77,
}

impl Req {
    /// The request with code `v`.
    pub fn from_i32(v: i32) -> Option<Req> {
        use Req::*;
        Some(match v {
            1 => Connect,
            2 => Exit,
            3 => Spawn,
            4 => Kill,
            5 => SendSig,
            6 => Config,
            7 => Tasks,
            8 => Pstat,
            9 => Mstat,
            10 => Halt,
            11 => NewContext,
            12 => FreeContext,
            20 => MboxPut,
            21 => MboxRecv,
            22 => MboxDel,
            23 => MboxInfo,
            50 => RouteAdd,
            51 => RouteDelete,
            52 => RouteHello,
            53 => DaemonAddr,
            30 => Notify,
            31 => SetOutput,
            40 => HostSync,
            41 => Tickle,
            42 => NoReset,
            43 => GetNoResets,
            44 => RegTasker,
            45 => RegHoster,
            46 => RegRm,
            47 => RegTracer,
            60 => AddHosts,
            61 => DelHosts,
            70 => GroupJoin,
            71 => GroupLeave,
            72 => GroupTid,
            73 => GroupInst,
            74 => GroupSize,
            75 => GroupBarrier,
            76 => GroupMembers,
            77 => GroupFreeze,
            _ => return None,
        })
    }
}
