//! Refresh: read what the stores and publishers hold now.

use crate::names::FamilyName;
use crate::provider::{ListedKey, LiveFamily, ProviderError, Providers};
use crate::spec::Resolved;
use futures_util::StreamExt;
use std::collections::BTreeMap;

/// What one family looks like live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveView {
    /// By store address. (A family has a store or two: a list is lighter than a map
    /// when there are tens of thousands of families.)
    pub stores: Vec<(String, LiveFamily)>,
    /// Published keys by publisher address; `None` when nothing is published yet.
    pub publishers: Vec<(String, Option<Vec<ListedKey>>)>,
    /// Stores or publishers that could not be read, with why.
    pub errors: Vec<(String, ProviderError)>,
    /// By store address: the lineage of the state that claimed the family there.
    pub owners: Vec<(String, String)>,
}

impl LiveView {
    /// What a store holds for the family.
    pub fn store(&self, address: &str) -> Option<&LiveFamily> {
        self.stores
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, l)| l)
    }

    /// The keys a publisher serves; `None` when it has published nothing (or was not read).
    pub fn published(&self, address: &str) -> Option<&Vec<ListedKey>> {
        self.publishers
            .iter()
            .find(|(a, _)| a == address)
            .and_then(|(_, k)| k.as_ref())
    }
}

/// Every family's live view, by family name.
pub type Live = BTreeMap<FamilyName, LiveView>;

/// Reads every family's stores and publishers, at most `parallelism` families at once.
pub async fn refresh(resolved: &Resolved, providers: &Providers, parallelism: usize) -> Live {
    refresh_in(resolved, providers, parallelism, None).await
}

/// [`refresh`], of the families in `scope` only when one is given.
pub async fn refresh_in(
    resolved: &Resolved,
    providers: &Providers,
    parallelism: usize,
    scope: Option<&std::collections::BTreeSet<FamilyName>>,
) -> Live {
    let spec = &resolved.spec;
    let in_scope = |family: &&crate::spec::Family| {
        scope.is_none_or(|s| s.contains(&spec.secrets[family.secret].name))
    };
    let jobs = resolved
        .families
        .iter()
        .filter(in_scope)
        .map(|family| async move {
            let secret = &spec.secrets[family.secret];
            let mut view = LiveView::default();
            for &s in &family.stores {
                let address = spec.stores[s].address();
                let Some(store) = providers.stores.get(&address) else {
                    continue;
                };
                match store.read(&secret.name).await {
                    Ok(live) => {
                        view.stores.push((address.clone(), live));
                    }
                    Err(e) => view.errors.push((address.clone(), e)),
                }
                match store.owner(&secret.name).await {
                    Ok(Some(lineage)) => view.owners.push((address, lineage)),
                    Ok(None) => {}
                    Err(e) => view.errors.push((address, e)),
                }
            }
            for &p in &family.publishers {
                let address = spec.publishers[p].address();
                let Some(publisher) = providers.publishers.get(&address) else {
                    continue;
                };
                match publisher.read_keys().await {
                    Ok(keys) => {
                        view.publishers.push((address, keys));
                    }
                    Err(e) => view.errors.push((address, e)),
                }
            }
            (secret.name.clone(), view)
        });
    futures_util::stream::iter(jobs)
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}
