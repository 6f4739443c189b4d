//! A request body that must arrive in full by a deadline. tower-http's `TimeoutBody` restarts
//! its timer at every frame, so a body sent a byte at a time would never time out; this one
//! counts from the end of the headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::connections::Tracker;

/// The error a late body ends with; the listener answers 408 for it.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub(crate) struct BodyTimeout;

/// `inner`, cut off at `deadline`; records on the connection's tracker whether it was read to
/// its end or ran late.
pub(crate) struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    /// Armed the first time the body is not ready, so a body that is already there costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    tracker: Arc<Tracker>,
}

impl<B> DeadlineBody<B> {
    pub(crate) fn new(inner: B, deadline: Instant, tracker: Arc<Tracker>) -> Self {
        Self { inner, deadline, sleep: None, tracker }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.tracker.body_complete();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.tracker.body_complete();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.tracker.body_timed_out();
                Poll::Ready(Some(Err(BodyTimeout.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use axum::body::Bytes;
    use http_body_util::{BodyExt, Full};

    use super::*;

    /// A body whose bytes never come.
    struct Never;

    impl Body for Never {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_comes_ends_in_an_error_at_the_deadline() {
        let tracker = Tracker::detached();
        let _request = tracker.begin_request(false);
        let started = Instant::now();
        let body = DeadlineBody::new(Never, started + Duration::from_secs(10), Arc::clone(&tracker));
        let err = body.collect().await.expect_err("cut off");
        assert!(err.is::<BodyTimeout>(), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(tracker.body_too_late());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_read_in_time_is_marked_complete() {
        let tracker = Tracker::detached();
        let _request = tracker.begin_request(false);
        let body = DeadlineBody::new(Full::new(Bytes::from_static(b"{}")), Instant::now(), Arc::clone(&tracker));
        let bytes = body.collect().await.expect("read").to_bytes();
        assert_eq!(&bytes[..], b"{}");
        assert!(!tracker.body_unfinished() && !tracker.body_too_late());
    }
}
