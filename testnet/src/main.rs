//! `testnet`: a local committee of `mpc-node` processes with the chain software they sign for.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use testnet::net::{self, UpArgs};

#[derive(Parser)]
#[command(
    name = "testnet",
    version,
    about = "A local threshold-signing testnet: n mpc-node processes on loopback, anvil, a LiteSVM Solana RPC and a regtest Bitcoin RPC over Bitcoin Core's interpreter"
)]
struct Cli {
    /// Work directory (configs, identities, databases, logs, state).
    #[arg(long, global = true, default_value = ".testnet")]
    dir: PathBuf,
    /// When bringing nodes up: stream every node's journal into this PostgreSQL (libpq string
    /// or URL; each node's rows under `party-<i>`), as `[archive]` does.
    #[arg(long, global = true)]
    archive_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the chain services and n nodes (free loopback ports), wait until connected.
    Up {
        /// Nodes.
        #[arg(long, default_value_t = 5)]
        nodes: u16,
        /// Default wallet threshold.
        #[arg(long, default_value_t = 3)]
        threshold: u16,
        /// Stay in the foreground and restart any node that dies, until `testnet down`.
        #[arg(long)]
        watch: bool,
    },
    /// A table of the nodes and services: party, peer id, admin address, peers, uptime, health.
    Status,
    /// Stop every process of the testnet (SIGTERM, then SIGKILL after 10 s).
    Down,
    /// Bring the testnet up if needed, run a DKG per scheme and one transfer per chain, each
    /// verified by chain software; print a summary (and write a JSON report with --json).
    Demo {
        /// Nodes, if the testnet must be brought up.
        #[arg(long, default_value_t = 5)]
        nodes: u16,
        /// Threshold, if the testnet must be brought up.
        #[arg(long, default_value_t = 3)]
        threshold: u16,
        /// Write the machine-readable report here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Stop the testnet when done.
        #[arg(long)]
        down: bool,
    },
    /// Networked DKG and signing per scheme next to the in-process floor, sustained signing
    /// throughput, node memory and start-to-ready, as a table (and JSON with --json).
    Bench {
        /// Nodes, if the testnet must be brought up.
        #[arg(long, default_value_t = 5)]
        nodes: u16,
        /// Threshold, if the testnet must be brought up.
        #[arg(long, default_value_t = 3)]
        threshold: u16,
        /// Fewer runs.
        #[arg(long)]
        quick: bool,
        /// Write the rows here as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Stop the testnet when done.
        #[arg(long)]
        down: bool,
    },
    /// The circuit breaker's figures: a fresh 5-node committee in which party 1 is made slow,
    /// jittery, silent, then cheating (fault injection); per scenario, DKG and signing success,
    /// mean time to detect the faulty party, false aborts and recovery, as a table.
    Drill {
        /// DKGs and signings per scenario.
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// (internal) Serve the regtest Bitcoin RPC facade on a port.
    #[command(hide = true)]
    BtcFacade {
        /// Port.
        #[arg(long)]
        port: u16,
    },
}

fn say(line: &str) {
    eprintln!("[testnet] {line}");
}

fn running(dir: &std::path::Path) -> Result<Option<net::State>, net::NetError> {
    Ok(net::load(dir)?.filter(|s| s.nodes.iter().all(|n| net::alive(n.proc.pid))))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), net::NetError> = (|| match cli.command {
        Command::Up { nodes, threshold, watch } => {
            let state =
                net::up(&UpArgs::new(cli.dir.clone(), nodes, threshold).archive(cli.archive_url.clone()), &say)?;
            print!("{}", net::table(&["party", "peer id", "admin", "peers", "uptime", "health"], &net::status(&state)));
            if watch {
                use std::io::Write;
                let _ = std::io::stdout().flush();
                net::watch(&cli.dir, &say)?;
            }
            Ok(())
        }
        Command::Status => match net::load(&cli.dir)? {
            Some(state) => {
                print!(
                    "{}",
                    net::table(&["party", "peer id", "admin", "peers", "uptime", "health"], &net::status(&state))
                );
                Ok(())
            }
            None => Err(net::NetError::Msg(format!("no testnet in {} (testnet up)", cli.dir.display()))),
        },
        Command::Down => match net::load(&cli.dir)? {
            Some(state) => {
                let n = net::down(&state)?;
                say(&format!("stopped {n} processes"));
                Ok(())
            }
            None => {
                say("nothing is up");
                Ok(())
            }
        },
        Command::Demo { nodes, threshold, json, down } => {
            let state = match running(&cli.dir)? {
                Some(s) => s,
                None => {
                    if let Some(stale) = net::load(&cli.dir)? {
                        net::down(&stale)?;
                    }
                    net::up(&UpArgs::new(cli.dir.clone(), nodes, threshold).archive(cli.archive_url.clone()), &say)?
                }
            };
            let outcome = testnet::demo::run(&state, &say);
            if down {
                net::down(&state)?;
            }
            let rows = outcome?;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.scheme.clone(),
                        r.chain.clone(),
                        r.address.clone(),
                        r.txid.clone(),
                        r.verified_by.clone(),
                        format!("{} ms", r.ms),
                    ]
                })
                .collect();
            println!();
            print!(
                "{}",
                net::table(&["scheme", "chain", "address", "txid / signature", "verified by", "time"], &table)
            );
            if let Some(path) = json {
                let report = serde_json::json!({ "nodes": state.nodes.len(), "threshold": state.threshold, "transfers": rows.iter().map(|r| r.json.clone()).collect::<Vec<_>>() });
                let text = serde_json::to_string_pretty(&report).map_err(|e| net::NetError::Msg(e.to_string()))?;
                std::fs::write(&path, text).map_err(|source| net::NetError::Io { path: path.clone(), source })?;
                say(&format!("report written to {}", path.display()));
            }
            Ok(())
        }
        Command::Bench { nodes, threshold, quick, json, down } => {
            let state = match running(&cli.dir)? {
                Some(s) => s,
                None => {
                    if let Some(stale) = net::load(&cli.dir)? {
                        net::down(&stale)?;
                    }
                    net::up(&UpArgs::new(cli.dir.clone(), nodes, threshold).archive(cli.archive_url.clone()), &say)?
                }
            };
            let outcome = testnet::bench::run(&state, quick, &say);
            if down {
                net::down(&state)?;
            }
            let rows = outcome?;
            println!(
                "\n{}-of-{}, {} mpc-node processes on loopback (networked: request to answer at the admin RPC)\n",
                state.threshold,
                state.nodes.len(),
                state.nodes.len()
            );
            print!("{}", testnet::bench::table(&rows));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&testnet::bench::json(&rows))
                    .map_err(|e| net::NetError::Msg(e.to_string()))?;
                std::fs::write(&path, text).map_err(|source| net::NetError::Io { path: path.clone(), source })?;
            }
            Ok(())
        }
        Command::Drill { runs } => {
            let dir = cli.dir.join("drill");
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| net::NetError::Io { path: dir.clone(), source })?;
            }
            let rows = testnet::drill::run(&dir, runs, &say)?;
            println!(
                "\n5 mpc-node processes, 3-of-5 FROST-Ed25519, party {} faulty, base round timeout {} ms\n",
                testnet::drill::FAULTY,
                testnet::drill::BASE_MS
            );
            print!("{}", testnet::drill::table(&rows));
            Ok(())
        }
        Command::BtcFacade { port } => {
            let facade = testnet::btc_facade::start_on(port)
                .map_err(|e| net::NetError::Msg(format!("bitcoin facade on port {port}: {e}")))?;
            say(&format!("bitcoin facade on {}", facade.url));
            loop {
                std::thread::park();
            }
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
