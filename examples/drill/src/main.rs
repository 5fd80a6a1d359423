//! `rotor-drill`: the drill's demo services, one subcommand each.

use clap::{Parser, Subcommand};
use rotor_drill::{
    LoadConfig, Mode, ReceiverConfig, VerifierConfig, naive, run_load, verifier, webhook,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Demo services for rotating keys under live traffic.
#[derive(Parser)]
#[command(name = "rotor-drill", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GET /verify (Bearer JWT, RS256), /keys (the cached JWKS) and /metrics.
    Verifier {
        /// The JWKS to trust: a file or an http(s) URL.
        #[arg(long)]
        jwks: String,
        /// How long a fetched key set is used before it is fetched again.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        cache_ttl: Duration,
        #[command(flatten)]
        listen: Listen,
    },
    /// Serve POST /hook (X-Signature: sha256=HMAC) and /metrics, accepting every enabled version.
    WebhookReceiver {
        #[command(flatten)]
        family: Family,
        /// How long the read key set is used before it is read again.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        cache_ttl: Duration,
        #[command(flatten)]
        listen: Listen,
    },
    /// Send steady traffic signed with the store's primary; print a JSON summary.
    Load {
        /// http://HOST:PORT/verify, or /hook with --hmac.
        #[arg(long)]
        target: String,
        #[command(flatten)]
        family: Family,
        /// Requests per second.
        #[arg(long, default_value_t = 50)]
        rps: u32,
        /// How long to run.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// How often the emitter re-reads the store's primary.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        refresh: Duration,
        /// How long a token is valid and kept by its client.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        token_ttl: Duration,
        /// Clients sharing the traffic, each keeping its own token.
        #[arg(long, default_value_t = 5)]
        clients: usize,
        /// Sign webhooks with the primary's secret instead of JWTs.
        #[arg(long)]
        hmac: bool,
    },
    /// The flag-day swap: replace the family's key in place, as a naive script would.
    NaiveRotate {
        #[command(flatten)]
        family: Family,
        /// The new version id.
        #[arg(long)]
        new_id: String,
        /// A JWKS file to rewrite with only the new key.
        #[arg(long)]
        jwks: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct Listen {
    /// HOST:PORT to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Write the bound port to this file.
    #[arg(long)]
    port_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct Family {
    /// The file store's directory.
    #[arg(long, default_value = ".rotor/secrets")]
    store: PathBuf,
    /// The secret family.
    #[arg(long)]
    family: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Verifier {
            jwks,
            cache_ttl,
            listen,
        } => {
            let config = VerifierConfig {
                jwks,
                cache_ttl,
                listen: listen.listen,
                port_file: listen.port_file,
            };
            let _server = verifier::start(config).await.map_err(|e| e.to_string())?;
            std::future::pending::<()>().await;
        }
        Command::WebhookReceiver {
            family,
            cache_ttl,
            listen,
        } => {
            let config = ReceiverConfig {
                store: family.store,
                family: family.family,
                cache_ttl,
                listen: listen.listen,
                port_file: listen.port_file,
            };
            let _server = webhook::start(config).await.map_err(|e| e.to_string())?;
            std::future::pending::<()>().await;
        }
        Command::Load {
            target,
            family,
            rps,
            duration,
            refresh,
            token_ttl,
            clients,
            hmac,
        } => {
            let config = LoadConfig {
                target,
                rps,
                store: family.store,
                family: family.family,
                refresh,
                token_ttl,
                clients,
                mode: if hmac { Mode::Hmac } else { Mode::Jwt },
            };
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let load = tokio::spawn(run_load(config, stopped));
            tokio::time::sleep(duration).await;
            let _ = stop.send(true);
            let summary = load.await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&summary).expect("a summary is JSON")
            );
        }
        Command::NaiveRotate {
            family,
            new_id,
            jwks,
        } => {
            naive::rotate(&family.store, &family.family, &new_id, jwks.as_deref())
                .map_err(|e| format!("naive rotate: {e}"))?;
            eprintln!("swapped {} to {new_id} in place", family.family);
        }
    }
    Ok(())
}
