//! The flags that say where a command finds the gateway's state — `--config`, `--state-dir`,
//! `--store`, `--store-ca` — shared by `vncgate otk` and `vncgate sessions`, and opening that
//! store the way `vncgate serve` does.

use std::path::PathBuf;

use anyhow::Context;
use gateway::config::store::StoreConfig;
use gateway::config::{file, Layer};
use gateway::store::Store;

#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// Read the state directory, the store and the targets from this config file.
    #[arg(long, global = true, value_name = "FILE", env = "VNCGATE_CONFIG")]
    config: Option<PathBuf>,
    /// The gateway's state directory [default: the config file's, else $VNCGATE_STATE_DIR, else
    /// $XDG_STATE_HOME/vncgate, else ~/.local/state/vncgate].
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The fleet's Redis, as given to `vncgate serve --store` (redis://HOST:PORT/DB, rediss://…)
    /// [default: the config file's `store`, else the SQLite files in the state directory].
    #[arg(long, global = true, value_name = "URL", env = "VNCGATE_STORE")]
    store: Option<String>,
    /// PEM roots that verify a rediss:// server [default: the config file's, else the system's].
    #[arg(long, global = true, value_name = "FILE")]
    store_ca: Option<PathBuf>,
}

/// What a command found: the config file (if any), the state directory, the store.
pub struct StoreContext {
    pub state_dir: PathBuf,
    pub layer: Option<Layer>,
    pub store: StoreConfig,
}

impl StoreArgs {
    pub fn context(&self) -> anyhow::Result<StoreContext> {
        let layer = match &self.config {
            Some(p) => Some(file::load(p)?),
            None => None,
        };
        let state_dir = self
            .state_dir
            .clone()
            .or_else(|| layer.as_ref().and_then(|l| l.state_dir.clone()))
            .unwrap_or_else(|| gateway::state_dir::resolve(None));
        let store = match &self.store {
            Some(url) => StoreConfig::from_url(url, self.store_ca.clone())
                .with_context(|| format!("--store {:?}", gateway::config::store::redacted(url)))?,
            None => {
                if self.store_ca.is_some() {
                    anyhow::bail!("--store-ca applies to --store rediss://…: give --store too");
                }
                layer
                    .as_ref()
                    .and_then(|l| l.store.clone())
                    .unwrap_or_default()
            }
        };
        Ok(StoreContext {
            state_dir,
            layer,
            store,
        })
    }
}

impl StoreContext {
    /// A runtime for the command and the store opened in it.
    pub fn open(&self) -> anyhow::Result<(tokio::runtime::Runtime, Store)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let store = rt.block_on(Store::open(
            &self.store,
            &self.state_dir,
            Default::default(),
        ))?;
        Ok((rt, store))
    }
}
