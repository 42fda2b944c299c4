//! Coalescing: scrapes asking for the same thing as one being collected share its body.

use std::sync::Arc;
use std::time::Instant;

use nodex_collectors::expfmt::Format;

use super::{ScrapeOutput, Scraper};

/// What makes two scrapes interchangeable: the collectors, the format and the encoding.
pub(super) type ScrapeKey = (Vec<usize>, Format, bool);

/// A scrape being collected, which scrapes asking for the same thing may wait for.
pub(super) struct InFlight {
    deadline: Instant,
    result: Arc<tokio::sync::OnceCell<Result<ScrapeOutput, String>>>,
}

impl Scraper {
    /// The response body of a scrape of `selected` by `deadline`. A scrape that asks for the
    /// same collectors, format and encoding as one being collected, which will be done by this
    /// scrape's own deadline, waits for it and shares its body instead of collecting again:
    /// Prometheus HA pairs and load generators cost one collection, not one each. A waiter
    /// whose leader is cancelled (its client went away) collects itself.
    pub async fn scrape(
        &self,
        selected: &[usize],
        deadline: Instant,
        format: Format,
        gzip: bool,
    ) -> Result<ScrapeOutput, String> {
        let key: ScrapeKey = (selected.to_vec(), format, gzip);
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match in_flight.get(&key) {
                Some(f) if f.deadline <= deadline && f.result.get().is_none() => {
                    Arc::clone(&f.result)
                }
                _ => {
                    let result = Arc::new(tokio::sync::OnceCell::new());
                    in_flight.insert(
                        key.clone(),
                        InFlight {
                            deadline,
                            result: Arc::clone(&result),
                        },
                    );
                    result
                }
            }
        };
        let out = cell
            .get_or_init(|| async {
                self.collect_and_render(selected, deadline, format, gzip)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .clone();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight
            .get(&key)
            .is_some_and(|f| Arc::ptr_eq(&f.result, &cell))
        {
            in_flight.remove(&key);
        }
        out
    }
}
