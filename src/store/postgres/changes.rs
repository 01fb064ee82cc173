//! Change notifications: a connection that `LISTEN`s on the channel every client or key
//! write notifies, so the other nodes reload at once instead of at the next poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::CHANNEL;

/// How often the listening connection proves it is alive; a dead one is replaced.
const LISTEN_CHECK: Duration = Duration::from_secs(15);

/// Keeps a connection that `LISTEN`s on [`CHANNEL`] and raises `changes` for every
/// notification, and once after each (re)connect for whatever was missed meanwhile.
/// A lost connection is retried every second; until then nodes fall back to polling.
pub(super) async fn listen(
    pg: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    changes: Arc<Notify>,
) {
    let mut failing = false;
    loop {
        let result = match &tls {
            Some(tls) => listen_once(&pg, tls.clone(), &changes, &mut failing).await,
            None => listen_once(&pg, tokio_postgres::NoTls, &changes, &mut failing).await,
        };
        if let Err(e) = result {
            if !failing {
                log::warn!(reason = e.as_str(); "PostgreSQL change notifications lost; polling until they are back");
            }
            failing = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One listening session; returns when the connection fails.
async fn listen_once<T>(
    pg: &tokio_postgres::Config,
    tls: T,
    changes: &Notify,
    failing: &mut bool,
) -> Result<(), String>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = pg.connect(tls).await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    });
    let _abort = AbortOnDrop(driver.abort_handle());
    tokio::time::timeout(
        LISTEN_CHECK,
        client.batch_execute(&format!("LISTEN {CHANNEL}")),
    )
    .await
    .map_err(|_| "LISTEN got no answer".to_owned())?
    .map_err(|e| e.to_string())?;
    if std::mem::take(failing) {
        log::info!("PostgreSQL change notifications are back");
    }
    changes.notify_one();
    let mut check = tokio::time::interval(LISTEN_CHECK);
    check.tick().await;
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(()) => changes.notify_one(),
                None => return Err("the listening connection closed".into()),
            },
            _ = check.tick() => {
                tokio::time::timeout(LISTEN_CHECK, client.simple_query("SELECT 1"))
                    .await
                    .map_err(|_| "the listening connection stopped answering".to_owned())?
                    .map_err(|e| e.to_string())?;
            }
        }
    }
}

pub(super) struct AbortOnDrop(pub(super) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
