//! hanse-bench: load scenarios against any Matrix homeserver over the
//! client-server API, printing one JSON line per scenario (throughput and
//! latency percentiles). It speaks only HTTP, so the same run can measure
//! Hanse and a reference server (see deploy/bench/compare-synapse.sh).
//! The `megolm` scenario alone needs no server: it measures hanse-sdk's
//! end-to-end encryption.

mod fanout;
mod federation;
mod keys;
mod megolm;
mod remote_join;
mod sync;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::future::join_all;
use hanse_sdk::{Client, LoginInfo};
use serde_json::{json, Value};

/// Load scenarios for a Matrix homeserver.
#[derive(Debug, Parser)]
#[command(name = "hanse-bench", version, about)]
struct Cli {
    /// Base URL of the client-server API.
    #[arg(long, default_value = "http://127.0.0.1:8008")]
    url: String,
    /// Registration token, for servers that require one.
    #[arg(long)]
    registration_token: Option<String>,
    /// Prefix of the user names this run registers (default: unique per
    /// run, so runs can repeat against one server).
    #[arg(long)]
    prefix: Option<String>,
    /// A shell command that prints the server's database size in bytes
    /// (e.g. `psql -Atc "SELECT pg_database_size(current_database())"`).
    /// With it, `send` and `big-room` also report bytes per event stored.
    #[arg(long)]
    measure: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Registers users, then logs each in again.
    Register {
        #[arg(long, default_value_t = 50)]
        count: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// One user creates rooms.
    CreateRoom {
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
    /// Users join one public room.
    Join {
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Fills one public room with members (accounts without passwords),
    /// then times further joins into it.
    BigRoom {
        #[arg(long, default_value_t = 10_000)]
        members: usize,
        /// Joins timed (and measured) once the room is full.
        #[arg(long, default_value_t = 100)]
        joins: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Concurrent senders send messages to one room.
    Send {
        #[arg(long, default_value_t = 16)]
        senders: usize,
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Members to fill the room with before sending (accounts without
        /// passwords), to see whether a send costs more in a large room.
        #[arg(long, default_value_t = 0)]
        members: usize,
        /// The server's process ID: the server's CPU time per message
        /// (from /proc; its database's processes not counted) is reported.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// One user uploads a large generated file and downloads it again,
    /// both streamed (neither side needs it in memory); with
    /// --server-pid, the server's peak memory above idle is reported.
    Media {
        /// Size of the file in MiB (the server's media.max_upload_bytes
        /// must allow it).
        #[arg(long, default_value_t = 200)]
        mebibytes: u64,
        /// Process ID of the server (on this machine), whose VmRSS and
        /// VmHWM are read from /proc.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// One user's /sync waits while another sends, one message at a time:
    /// from the send to the waiting sync's answer.
    SyncWakeup {
        #[arg(long, default_value_t = 1000)]
        events: usize,
    },
    /// A user in many rooms syncs from nothing, as a new device each time.
    InitialSync {
        #[arg(long, default_value_t = 500)]
        rooms: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Many clients hold a waiting /sync: the server's memory per waiting
    /// client, then how long one message takes to reach them all.
    IdleClients {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Process ID of the server (on this machine), whose VmRSS is read
        /// from /proc.
        #[arg(long)]
        server_pid: u32,
    },
    /// Devices publish one-time keys; concurrent claimers take every one
    /// (each must come back once).
    KeysClaim {
        #[arg(long, default_value_t = 20)]
        devices: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// One user sends to-device messages to another's device, which syncs
    /// them in.
    ToDevice {
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Federation: a room on the first server joined by a user of each
    /// other server; messages sent on the first, timed until every other
    /// server's user has seen them all in /sync.
    FederatedFanout {
        /// Client-API URLs, comma-separated: the room's server first, then
        /// the servers whose users join it (--url is not used).
        #[arg(long, value_delimiter = ',', required = true)]
        servers: Vec<String>,
        #[arg(long, default_value_t = 2000)]
        events: usize,
        /// Concurrent senders on the first server (each its own user).
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Give up when the receivers have not seen everything by then.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Federation: a room on the resident server with many members, then
    /// fresh users of another server join it through the resident one;
    /// from POST /join until the room shows in the joiner's /sync.
    RemoteJoin {
        /// Client-API URL of the server the room lives on.
        #[arg(long)]
        resident: String,
        /// Client-API URL of the server whose users join.
        #[arg(long)]
        joiner: String,
        #[arg(long, default_value_t = 2000)]
        members: usize,
        /// Timed joins, each by a fresh user of the joining server into a
        /// new room of the same members (so each goes over federation).
        #[arg(long, default_value_t = 3)]
        joins: usize,
        /// Registrations and joins in flight while the room is filled.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// No server: hanse-sdk encrypts room messages with Megolm, then
    /// decrypts them as another device.
    Megolm {
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Length of each message's text.
        #[arg(long, default_value_t = 256)]
        body_bytes: usize,
        /// Keep both devices' state in store directories, as clients do:
        /// every message then also writes the session to disk.
        #[arg(long)]
        persistent: bool,
    },
}

/// Latencies of one scenario, and how long it took in all.
struct Timings {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Timings {
    fn report(mut self, scenario: &str, extra: Value) {
        self.latencies.sort_unstable();
        let percentile = |p: f64| percentile_ms(&self.latencies, p);
        let count = self.latencies.len();
        let mut line = json!({
            "scenario": scenario,
            "operations": count,
            "seconds": round(self.elapsed.as_secs_f64()),
            "per_second": round(count as f64 / self.elapsed.as_secs_f64()),
            "p50_ms": percentile(50.0),
            "p95_ms": percentile(95.0),
            "p99_ms": percentile(99.0),
        });
        if let (Value::Object(line), Value::Object(extra)) = (&mut line, extra) {
            line.extend(extra);
        }
        println!("{line}");
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        eprintln!("hanse-bench: {error}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let bench = Bench {
        anonymous: Client::new(&cli.url),
        token: cli.registration_token,
        prefix: cli.prefix.unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("bench{}", now.as_millis())
        }),
        measure: cli.measure,
    };
    match cli.scenario {
        Scenario::Register { count, concurrency } => bench.register(count, concurrency).await,
        Scenario::CreateRoom { count } => bench.create_rooms(count).await,
        Scenario::Join { count, concurrency } => bench.join(count, concurrency).await,
        Scenario::BigRoom {
            members,
            joins,
            concurrency,
        } => bench.big_room(members, joins, concurrency).await,
        Scenario::Send {
            senders,
            messages,
            members,
            server_pid,
        } => bench.send(senders, messages, members, server_pid).await,
        Scenario::Media {
            mebibytes,
            server_pid,
        } => bench.media(mebibytes, server_pid).await,
        Scenario::SyncWakeup { events } => bench.sync_wakeup(events).await,
        Scenario::InitialSync { rooms, repeats } => bench.initial_sync(rooms, repeats).await,
        Scenario::IdleClients {
            clients,
            server_pid,
        } => bench.idle_clients(clients, server_pid).await,
        Scenario::KeysClaim {
            devices,
            concurrency,
        } => bench.keys_claim(devices, concurrency).await,
        Scenario::ToDevice {
            messages,
            concurrency,
        } => bench.to_device(messages, concurrency).await,
        Scenario::FederatedFanout {
            servers,
            events,
            concurrency,
            timeout_secs,
        } => {
            bench
                .federated_fanout(&servers, events, concurrency, timeout_secs)
                .await
        }
        Scenario::RemoteJoin {
            resident,
            joiner,
            members,
            joins,
            concurrency,
        } => {
            bench
                .remote_join(&resident, &joiner, members, joins, concurrency)
                .await
        }
        Scenario::Megolm {
            messages,
            body_bytes,
            persistent,
        } => megolm::megolm(messages, body_bytes, persistent),
    }
}

struct Bench {
    anonymous: Client,
    token: Option<String>,
    prefix: String,
    measure: Option<String>,
}

const PASSWORD: &str = "hanse-bench password";

impl Bench {
    /// The same run (prefix, token) against another server: for the
    /// scenarios that drive several.
    fn at(&self, url: &str) -> Bench {
        Bench {
            anonymous: Client::new(url),
            token: self.token.clone(),
            prefix: self.prefix.clone(),
            measure: None,
        }
    }

    async fn new_user(&self, name: &str) -> Result<(Client, LoginInfo), Failure> {
        self.new_account(name, Some(PASSWORD)).await
    }

    async fn new_account(
        &self,
        name: &str,
        password: Option<&str>,
    ) -> Result<(Client, LoginInfo), Failure> {
        let username = format!("{}{name}", self.prefix);
        let token = self.token.as_deref();
        let login = match password {
            Some(password) => self.anonymous.register(&username, password, token).await?,
            // Servers that insist on a password (Synapse) get one.
            None => match self
                .anonymous
                .register_without_password(&username, token)
                .await
            {
                Err(error) if error.errcode() == Some("M_MISSING_PARAM") => {
                    self.anonymous.register(&username, PASSWORD, token).await?
                }
                other => other?,
            },
        };
        Ok((self.anonymous.with_token(&login.access_token), login))
    }

    /// `count` users, registered `concurrency` at a time; progress on stderr.
    async fn users(
        &self,
        tag: &str,
        count: usize,
        concurrency: usize,
    ) -> Result<Vec<(Client, LoginInfo, Duration)>, Failure> {
        self.users_with(tag, count, concurrency, Some(PASSWORD))
            .await
    }

    async fn users_with(
        &self,
        tag: &str,
        count: usize,
        concurrency: usize,
        password: Option<&str>,
    ) -> Result<Vec<(Client, LoginInfo, Duration)>, Failure> {
        let mut users = Vec::with_capacity(count);
        let mut next = 0;
        while next < count {
            let batch: Vec<_> = (next..count.min(next + concurrency.max(1)))
                .map(|i| async move {
                    let started = Instant::now();
                    let (client, login) = self.new_account(&format!("{tag}{i}"), password).await?;
                    Ok::<_, Failure>((client, login, started.elapsed()))
                })
                .collect();
            for user in join_all(batch).await {
                users.push(user?);
            }
            next = users.len();
            if next % 1000 == 0 || next == count {
                eprintln!("hanse-bench: {next}/{count} users registered");
            }
        }
        Ok(users)
    }

    async fn register(&self, count: usize, concurrency: usize) -> Result<(), Failure> {
        let started = Instant::now();
        let users = self.users("r", count, concurrency).await?;
        Timings {
            latencies: users.iter().map(|(_, _, took)| *took).collect(),
            elapsed: started.elapsed(),
        }
        .report("register", json!({ "concurrency": concurrency }));

        let started = Instant::now();
        let mut latencies = Vec::with_capacity(count);
        for (_, login, _) in &users {
            let began = Instant::now();
            self.anonymous.login(&login.user_id, PASSWORD).await?;
            latencies.push(began.elapsed());
        }
        Timings {
            latencies,
            elapsed: started.elapsed(),
        }
        .report("login", json!({}));
        Ok(())
    }

    async fn create_rooms(&self, count: usize) -> Result<(), Failure> {
        let (client, _) = self.new_user("creator").await?;
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(count);
        for i in 0..count {
            let began = Instant::now();
            let _: Value = client
                .post(
                    "/_matrix/client/v3/createRoom",
                    &json!({ "preset": "public_chat", "name": format!("bench room {i}") }),
                )
                .await?;
            latencies.push(began.elapsed());
        }
        Timings {
            latencies,
            elapsed: started.elapsed(),
        }
        .report("create_room", json!({}));
        Ok(())
    }

    async fn public_room(&self) -> Result<(Client, String), Failure> {
        let (owner, _) = self.new_user("owner").await?;
        let created: Value = owner
            .post(
                "/_matrix/client/v3/createRoom",
                &json!({ "preset": "public_chat" }),
            )
            .await?;
        let room = created["room_id"]
            .as_str()
            .ok_or("createRoom answered without room_id")?
            .to_owned();
        Ok((owner, room))
    }

    async fn join(&self, count: usize, concurrency: usize) -> Result<(), Failure> {
        let (_, room) = self.public_room().await?;
        let users = self.users("j", count, concurrency).await?;
        self.join_all(&room, &users, concurrency)
            .await?
            .report("join", json!({ "concurrency": concurrency }));
        Ok(())
    }

    /// Fills a room with `members`, then times `joins` more: the second
    /// phase is the figure (a join's cost in a large room).
    async fn big_room(
        &self,
        members: usize,
        joins: usize,
        concurrency: usize,
    ) -> Result<(), Failure> {
        let (_, room) = self.public_room().await?;
        self.fill_room(&room, members, concurrency).await?;
        let users = self.users_with("late", joins, concurrency, None).await?;
        let before = self.database_size()?;
        let timings = self.join_all(&room, &users, concurrency).await?;
        let after = self.database_size()?;
        timings.report(
            "big_room_join",
            json!({
                "members": members,
                "concurrency": concurrency,
                "bytes_per_join": bytes_per(before, after, joins),
            }),
        );
        Ok(())
    }

    /// Adds `members` new members (accounts without passwords) to `room`,
    /// `concurrency` joins at a time; progress on stderr.
    async fn fill_room(
        &self,
        room: &str,
        members: usize,
        concurrency: usize,
    ) -> Result<(), Failure> {
        let mut filled = 0;
        let started = Instant::now();
        while filled < members {
            let chunk = (members - filled).min(1000);
            let users = self
                .users_with(&format!("m{filled}-"), chunk, concurrency, None)
                .await?;
            self.join_all(room, &users, concurrency).await?;
            filled += chunk;
            eprintln!(
                "hanse-bench: {filled}/{members} members joined ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    /// Runs the `--measure` command: the database size in bytes.
    fn database_size(&self) -> Result<Option<u64>, Failure> {
        let Some(command) = &self.measure else {
            return Ok(None);
        };
        let output = std::process::Command::new("sh")
            .args(["-c", command])
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "the --measure command failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(Some(text.trim().parse().map_err(|_| {
            format!("the --measure command printed {text:?}, not a byte count")
        })?))
    }

    /// Each user joins `room`, `concurrency` at a time.
    async fn join_all(
        &self,
        room: &str,
        users: &[(Client, LoginInfo, Duration)],
        concurrency: usize,
    ) -> Result<Timings, Failure> {
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(users.len());
        for chunk in users.chunks(concurrency.max(1)) {
            let joins = chunk.iter().map(|(client, _, _)| async move {
                let began = Instant::now();
                let _: Value = client
                    .post(&format!("/_matrix/client/v3/rooms/{room}/join"), &json!({}))
                    .await?;
                Ok::<_, Failure>(began.elapsed())
            });
            for took in join_all(joins).await {
                latencies.push(took?);
            }
        }
        Ok(Timings {
            latencies,
            elapsed: started.elapsed(),
        })
    }

    async fn send(
        &self,
        senders: usize,
        messages: usize,
        members: usize,
        server_pid: Option<u32>,
    ) -> Result<(), Failure> {
        let (_, room) = self.public_room().await?;
        self.fill_room(&room, members, 8).await?;
        let users = self.users("s", senders, senders).await?;
        for (client, _, _) in &users {
            let _: Value = client
                .post(&format!("/_matrix/client/v3/rooms/{room}/join"), &json!({}))
                .await?;
        }
        let per_sender = messages.div_ceil(senders.max(1));
        let before = self.database_size()?;
        let cpu_before = server_pid.map(cpu_ms).transpose()?;
        let started = Instant::now();
        let tasks = users.iter().enumerate().map(|(s, (client, _, _))| {
            let room = room.clone();
            async move {
                let mut latencies = Vec::with_capacity(per_sender);
                for m in 0..per_sender {
                    let began = Instant::now();
                    let _: Value = client
                        .put(
                            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/b{s}-{m}"),
                            &json!({ "msgtype": "m.text", "body": format!("message {m} from sender {s}") }),
                        )
                        .await?;
                    latencies.push(began.elapsed());
                }
                Ok::<_, Failure>(latencies)
            }
        });
        let mut latencies = Vec::with_capacity(messages);
        for sent in join_all(tasks).await {
            latencies.extend(sent?);
        }
        let elapsed = started.elapsed();
        let cpu = match (server_pid, cpu_before) {
            (Some(pid), Some(before)) => Some(cpu_ms(pid)? - before),
            _ => None,
        };
        let after = self.database_size()?;
        let sent = latencies.len();
        Timings { latencies, elapsed }.report(
            "send",
            json!({
                "senders": senders,
                "members": members,
                "bytes_per_message": bytes_per(before, after, sent),
                "server_cpu_ms_per_message": cpu.map(|ms| round(ms / sent.max(1) as f64)),
            }),
        );
        Ok(())
    }
}

/// Deterministic bytes that neither compress nor repeat, made a chunk at a
/// time and the same however they are chunked: the media scenario's file,
/// produced for upload and again to check the download against.
struct Generated {
    position: u64,
    len: u64,
}

impl Generated {
    const CHUNK: usize = 64 * 1024;

    fn new(len: u64) -> Self {
        Self { position: 0, len }
    }

    /// Byte `position` of the stream: a byte of the SplitMix64 hash of its
    /// 8-byte word's index.
    fn byte_at(position: u64) -> u8 {
        let mut z = (position / 8).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()[(position % 8) as usize]
    }

    fn next_chunk(&mut self, max: usize) -> Option<Vec<u8>> {
        let end = self.len.min(self.position + max as u64);
        if self.position >= end {
            return None;
        }
        let chunk = (self.position..end).map(Self::byte_at).collect();
        self.position = end;
        Some(chunk)
    }
}

/// CPU time (user and system, all threads) a process has used, in ms.
fn cpu_ms(pid: u32) -> Result<f64, Failure> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces, so split
    // after its closing parenthesis); utime and stime are the 14th and
    // 15th fields of the line, the 12th and 13th after the name.
    let after_name = stat.rsplit_once(')').ok_or("malformed /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, Failure> {
        Ok(fields.get(i).ok_or("short /proc stat")?.parse::<f64>()?)
    };
    // /proc counts in USER_HZ, which Linux fixes at 100 per second.
    Ok((ticks(11)? + ticks(12)?) * 10.0)
}

/// VmRSS and VmHWM of a process, in KiB.
fn memory_kib(pid: u32) -> Result<(u64, u64), Failure> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64, Failure> {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .ok_or_else(|| format!("/proc/{pid}/status has no {name}"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .ok_or("malformed /proc status line")?
            .parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

impl Bench {
    async fn media(&self, mebibytes: u64, server_pid: Option<u32>) -> Result<(), Failure> {
        let (client, _) = self.new_user("media").await?;
        let len = mebibytes * 1024 * 1024;
        let idle = match server_pid {
            Some(pid) => {
                // Resets VmHWM to the current RSS (Linux; needs the right
                // to the process); without it the peak may predate the run.
                let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
                if !reset {
                    eprintln!(
                        "hanse-bench: cannot reset the peak RSS of {pid}; it may predate this run"
                    );
                }
                Some((pid, memory_kib(pid)?.0))
            }
            None => None,
        };
        // Sampled too, in case the peak cannot be reset.
        let sampled_peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampler = idle.map(|(pid, _)| {
            let peak = sampled_peak.clone();
            tokio::spawn(async move {
                while let Ok((rss, _)) = memory_kib(pid) {
                    peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        });

        let started = Instant::now();
        let body = futures_util::stream::unfold(Generated::new(len), |mut generated| async move {
            let chunk = generated.next_chunk(Generated::CHUNK)?;
            Some((Ok::<_, std::io::Error>(chunk), generated))
        });
        let mxc = client
            .upload(
                reqwest::Body::wrap_stream(body),
                "application/octet-stream",
                Some("bench.bin"),
            )
            .await?;
        let report = |scenario: &str, took: Duration| {
            let throughput = round(mebibytes as f64 / took.as_secs_f64());
            Timings {
                latencies: vec![took],
                elapsed: took,
            }
            .report(
                scenario,
                json!({ "mebibytes": mebibytes, "mib_per_second": throughput }),
            );
        };
        report("media_upload", started.elapsed());

        let started = Instant::now();
        let mut response = client.download(&mxc).await?;
        let mut expected = Generated::new(len);
        let mut received = 0u64;
        while let Some(chunk) = response.chunk().await? {
            let want = expected
                .next_chunk(chunk.len())
                .ok_or("the download is longer than the upload")?;
            if want[..] != chunk[..] {
                return Err(
                    format!("the download differs from the upload at byte {received}").into(),
                );
            }
            received += chunk.len() as u64;
        }
        if received != len {
            return Err(format!("downloaded {received} of {len} bytes").into());
        }
        report("media_download", started.elapsed());

        if let (Some((pid, idle_kib)), Some(sampler)) = (idle, sampler) {
            let (_, peak_kib) = memory_kib(pid)?;
            sampler.abort();
            let sampled = sampled_peak.load(std::sync::atomic::Ordering::Relaxed);
            let peak_kib = peak_kib.max(sampled);
            let above_mib = round(peak_kib.saturating_sub(idle_kib) as f64 / 1024.0);
            println!(
                "{}",
                json!({
                    "scenario": "media_memory",
                    "server_pid": pid,
                    "idle_rss_mib": round(idle_kib as f64 / 1024.0),
                    "peak_rss_mib": round(peak_kib as f64 / 1024.0),
                    "peak_above_idle_mib": above_mib,
                    "target_mib": 64,
                    "met": above_mib < 64.0,
                })
            );
        }
        Ok(())
    }
}

/// The server name in a user ID (`@name:server`, the server possibly
/// with a port).
fn server_name_of(user_id: &str) -> Result<&str, Failure> {
    Ok(user_id
        .split_once(':')
        .ok_or_else(|| format!("{user_id} is not a user ID"))?
        .1)
}

/// Microseconds since the Unix epoch: what the federation scenarios put
/// in a message and compare with when it was seen (one machine, one clock).
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

/// The value at percentile `p` of sorted `values`, in ms.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    round(sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0)
}

/// Database growth per operation, when the size was measured.
fn bytes_per(before: Option<u64>, after: Option<u64>, operations: usize) -> Value {
    match (before, after) {
        (Some(before), Some(after)) if operations > 0 => {
            json!(after.saturating_sub(before) / operations as u64)
        }
        _ => Value::Null,
    }
}
