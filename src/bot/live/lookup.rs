//! A live card's looks: its codes looked up again, and how many are in each meeting in progress.

use std::sync::Arc;

use super::LiveCards;
use super::view::CardView;
use crate::bot::render::CodeResult;
use crate::bot::room_code::RoomCode;

impl LiveCards {
    /// Looks up every code of `view` (`fresh`: past the cache), for the budget as `purpose`.
    pub(super) async fn look_up(&self, corp: Option<&str>, view: &CardView, fresh: bool) -> Vec<CodeResult> {
        let lookups = view.codes.iter().filter_map(|code| RoomCode::parse(code).ok()).map(|code| async move {
            let result = if fresh {
                self.conferences.refetch(corp, code.as_str()).await
            } else {
                self.conferences.infos(corp, code.as_str()).await
            };
            (code, result)
        });
        futures_util::future::join_all(lookups).await
    }

    /// Fills in how many people are in each meeting in progress (one call per meeting, made only
    /// when a live card of it is refreshed; a failure leaves the count out).
    pub(super) async fn count_people(&self, corp: Option<&str>, results: &mut [CodeResult]) {
        for (_, result) in results.iter_mut() {
            let Ok(found) = result else { continue };
            let mut counted = (**found).clone();
            let mut changed = false;
            for info in counted.list.iter_mut().filter(|info| info.status == Some(2)) {
                let Some(id) = info.conference_id.as_deref() else { continue };
                match self.conferences.active_num(corp, id).await {
                    Ok(active) => {
                        info.active_num = active;
                        changed = true;
                    }
                    Err(err) => tracing::info!(%err, "how many are in a meeting could not be read; left off the card"),
                }
            }
            if changed {
                *found = Arc::new(counted);
            }
        }
    }
}
