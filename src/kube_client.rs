//! The controllers' Kubernetes client: kube's default stack with one layer of our own,
//! [`Guard`], which paces every request with a token bucket (the client's own rate limit, so a
//! startup storm or a hot loop cannot flood the apiserver) and refuses every write while the
//! leader [`Fence`] is closed. The Lease is renewed through a separate client without this
//! layer, so renewals never queue behind the controllers' requests.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{Method, Request};
use tower::{BoxError, Layer, Service};

use crate::leader::Fence;

/// Request pacing of the controllers' client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KubeLimits {
    /// Sustained requests per second.
    pub qps: f64,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// A write refused because this replica may not be the leader.
#[derive(Debug, thiserror::Error)]
#[error("write not sent: this replica does not hold the leader Lease")]
pub struct NotLeader;

/// Builds the controllers' client from `config`, paced by `limits` and, when given, fenced.
pub fn build(
    config: kube::Config,
    limits: KubeLimits,
    fence: Option<Arc<Fence>>,
) -> anyhow::Result<kube::Client> {
    let layer = GuardLayer::new(limits, fence)?;
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&layer)
        .build())
}

/// Makes [`Guard`]s sharing one token bucket and fence.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    limiter: Arc<DefaultDirectRateLimiter>,
    fence: Option<Arc<Fence>>,
}

impl GuardLayer {
    /// A layer pacing requests to `limits` and refusing writes while `fence` is closed.
    pub fn new(limits: KubeLimits, fence: Option<Arc<Fence>>) -> anyhow::Result<Self> {
        if !(limits.qps.is_finite() && limits.qps > 0.0) {
            anyhow::bail!("the Kubernetes client rate must be a positive number");
        }
        let period = Duration::from_secs_f64(1.0 / limits.qps);
        let burst = NonZeroU32::new(limits.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .ok_or_else(|| anyhow::anyhow!("the Kubernetes client rate is too high"))?
            .allow_burst(burst);
        Ok(Self {
            limiter: Arc::new(RateLimiter::direct(quota)),
            fence,
        })
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            limiter: self.limiter.clone(),
            fence: self.fence.clone(),
            waiting: None,
            admitted: false,
        }
    }
}

/// Paces requests and fences writes (see the module doc).
pub struct Guard<S> {
    inner: S,
    limiter: Arc<DefaultDirectRateLimiter>,
    fence: Option<Arc<Fence>>,
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    admitted: bool,
}

impl<S> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("fenced", &self.fence.is_some())
            .field("admitted", &self.admitted)
            .finish()
    }
}

impl<S, B> Service<Request<B>> for Guard<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Response: Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // One token per request, taken before readiness is reported: kube's client runs
        // requests through a buffer that waits here, so requests queue rather than fail.
        if !self.admitted {
            if self.waiting.is_none() {
                if self.limiter.check().is_ok() {
                    self.admitted = true;
                } else {
                    let limiter = self.limiter.clone();
                    self.waiting = Some(Box::pin(async move { limiter.until_ready().await }));
                }
            }
            if let Some(waiting) = self.waiting.as_mut() {
                match waiting.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.waiting = None;
                        self.admitted = true;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.admitted = false;
        let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if write && self.fence.as_ref().is_some_and(|f| !f.is_open()) {
            return Box::pin(std::future::ready(Err(BoxError::from(NotLeader))));
        }
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;
    use tower::ServiceExt;

    fn counting(
        calls: Arc<AtomicUsize>,
    ) -> impl Service<
        Request<()>,
        Response = (),
        Error = BoxError,
        Future = std::future::Ready<Result<(), BoxError>>,
    > + Clone {
        tower::service_fn(move |_req: Request<()>| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok::<_, BoxError>(()))
        })
    }

    fn request(method: Method) -> Request<()> {
        Request::builder()
            .method(method)
            .uri("/api/v1/namespaces/x/secrets")
            .body(())
            .expect("request")
    }

    /// Requests beyond the burst wait for tokens: 11 requests at 20/s with a burst of 1 take
    /// at least half a second; the same requests with room to spare go through at once.
    #[tokio::test]
    async fn requests_are_paced_by_the_token_bucket() {
        for (limits, paced) in [
            (
                KubeLimits {
                    qps: 20.0,
                    burst: 1,
                },
                true,
            ),
            (
                KubeLimits {
                    qps: 1000.0,
                    burst: 100,
                },
                false,
            ),
        ] {
            let calls = Arc::new(AtomicUsize::new(0));
            let layer = GuardLayer::new(limits, None).expect("layer");
            let mut svc = layer.layer(counting(calls.clone()));
            let start = Instant::now();
            for _ in 0..11 {
                svc.ready().await.expect("ready");
                svc.call(request(Method::GET)).await.expect("call");
            }
            let took = start.elapsed();
            assert_eq!(calls.load(Ordering::SeqCst), 11);
            if paced {
                assert!(took >= Duration::from_millis(450), "{took:?}");
            } else {
                assert!(took < Duration::from_millis(400), "{took:?}");
            }
        }
    }

    /// A closed fence refuses writes before they reach the apiserver and lets reads through;
    /// opened, writes go through.
    #[tokio::test]
    async fn a_closed_fence_refuses_writes_only() {
        let calls = Arc::new(AtomicUsize::new(0));
        let fence = Arc::new(Fence::closed());
        let limits = KubeLimits {
            qps: 1000.0,
            burst: 100,
        };
        let layer = GuardLayer::new(limits, Some(fence.clone())).expect("layer");
        let mut svc = layer.layer(counting(calls.clone()));
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            svc.ready().await.expect("ready");
            let err = svc.call(request(method)).await.expect_err("refused");
            assert!(err.is::<NotLeader>(), "{err}");
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "no write reached the server"
        );
        svc.ready().await.expect("ready");
        svc.call(request(Method::GET)).await.expect("reads pass");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        fence.extend_for_tests(Duration::from_secs(10));
        svc.ready().await.expect("ready");
        svc.call(request(Method::PATCH))
            .await
            .expect("writes pass when open");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
