//! Packet loss and delay on a node's links, in user space: `tc netem` needs
//! queueing disciplines that the kernel of the machine the tests were built
//! on lacks. Every node reaches every other node's runner and replica
//! through this relay on the bridge's address (the nodes' config files say
//! so); it forwards each datagram both ways, dropping or delaying those to
//! or from an impaired node as `tc netem loss P delay D JITTER` would.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What happens to the datagrams to and from a node.
#[derive(Clone, Copy, Debug, Default)]
pub struct Impairment {
    /// The share of datagrams lost, 0 to 1.
    pub loss: f64,
    pub delay: Duration,
    /// Each datagram's delay is `delay` plus up to this much (so they may
    /// arrive out of order, as through netem).
    pub jitter: Duration,
}

/// How long a flow (one sender's port towards one target) may stay idle
/// before the relay forgets it.
const IDLE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

struct Shared {
    impaired: Mutex<BTreeMap<IpAddr, Impairment>>,
    /// Pairs of nodes that reach each other no more (either way).
    cut: Mutex<std::collections::BTreeSet<(IpAddr, IpAddr)>>,
    rng: Mutex<StdRng>,
    stop: AtomicBool,
    queue: Mutex<BinaryHeap<Delayed>>,
    wake: Condvar,
    /// Datagrams (forwarded, dropped).
    counts: Mutex<(u64, u64)>,
}

struct Delayed {
    at: Instant,
    via: Arc<UdpSocket>,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    /// The earliest first out of the (max-)heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}

pub struct Relay {
    shared: Arc<Shared>,
    ports: BTreeMap<SocketAddr, SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// A relay port on `bind` for each target address.
    pub fn start(bind: IpAddr, targets: &[SocketAddr], seed: u64) -> Relay {
        let shared = Arc::new(Shared {
            impaired: Mutex::new(BTreeMap::new()),
            cut: Mutex::default(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            stop: AtomicBool::new(false),
            queue: Mutex::new(BinaryHeap::new()),
            wake: Condvar::new(),
            counts: Mutex::new((0, 0)),
        });
        let mut ports = BTreeMap::new();
        let mut threads = Vec::new();
        for &target in targets {
            let sock = UdpSocket::bind((bind, 0)).unwrap();
            sock.set_read_timeout(Some(POLL)).unwrap();
            ports.insert(target, sock.local_addr().unwrap());
            let sh = shared.clone();
            threads.push(std::thread::spawn(move || {
                listen(&sh, Arc::new(sock), target, bind);
            }));
        }
        let sh = shared.clone();
        threads.push(std::thread::spawn(move || deliver(&sh)));
        Relay {
            shared,
            ports,
            threads,
        }
    }

    /// Where a node reaches `target` through the relay.
    pub fn address(&self, target: SocketAddr) -> SocketAddr {
        self.ports[&target]
    }

    /// Impairs every datagram to or from the node at `ip`.
    pub fn impair(&self, ip: IpAddr, how: Impairment) {
        self.shared.impaired.lock().unwrap().insert(ip, how);
    }

    pub fn heal(&self, ip: IpAddr) {
        self.shared.impaired.lock().unwrap().remove(&ip);
    }

    /// Cuts the link between two nodes (each still reaches the others), or
    /// mends it.
    pub fn cut(&self, a: IpAddr, b: IpAddr, cut: bool) {
        let pair = (a.min(b), a.max(b));
        let mut set = self.shared.cut.lock().unwrap();
        if cut {
            set.insert(pair);
        } else {
            set.remove(&pair);
        }
    }

    /// Datagrams forwarded and dropped so far.
    pub fn counts(&self) -> (u64, u64) {
        *self.shared.counts.lock().unwrap()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    /// Sends `bytes` from `via` to `to` now, later, or never, as the
    /// impairments of the two ends say (the worse of each).
    fn forward(&self, via: &Arc<UdpSocket>, to: SocketAddr, ends: [IpAddr; 2], bytes: &[u8]) {
        let [a, b] = ends;
        if self.cut.lock().unwrap().contains(&(a.min(b), a.max(b))) {
            self.counts.lock().unwrap().1 += 1;
            return;
        }
        let how = {
            let imp = self.impaired.lock().unwrap();
            ends.iter()
                .filter_map(|ip| imp.get(ip).copied())
                .fold(Impairment::default(), |a, b| Impairment {
                    loss: a.loss.max(b.loss),
                    delay: a.delay.max(b.delay),
                    jitter: a.jitter.max(b.jitter),
                })
        };
        let (lost, extra) = {
            let mut rng = self.rng.lock().unwrap();
            let lost = how.loss > 0.0 && rng.gen_bool(how.loss.min(1.0));
            let jitter = how.jitter.as_micros() as u64;
            let extra = if jitter > 0 {
                Duration::from_micros(rng.gen_range(0..=jitter))
            } else {
                Duration::ZERO
            };
            (lost, extra)
        };
        let mut counts = self.counts.lock().unwrap();
        if lost {
            counts.1 += 1;
            return;
        }
        counts.0 += 1;
        drop(counts);
        let wait = how.delay + extra;
        if wait.is_zero() {
            let _ = via.send_to(bytes, to);
            return;
        }
        self.queue.lock().unwrap().push(Delayed {
            at: Instant::now() + wait,
            via: via.clone(),
            to,
            bytes: bytes.to_vec(),
        });
        self.wake.notify_one();
    }
}

/// Forwards what senders send to the relay port on to `target`, each
/// sender through its own upstream socket so that the answers find it.
fn listen(sh: &Arc<Shared>, sock: Arc<UdpSocket>, target: SocketAddr, bind: IpAddr) {
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    while !sh.stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let up = flows.lock().unwrap().get(&from).cloned();
        let up = up.unwrap_or_else(|| {
            let up = Arc::new(UdpSocket::bind((bind, 0)).unwrap());
            up.set_read_timeout(Some(POLL)).unwrap();
            flows.lock().unwrap().insert(from, up.clone());
            let (sh, back, up2, flows) = (sh.clone(), sock.clone(), up.clone(), flows.clone());
            std::thread::spawn(move || {
                answer(&sh, &up2, &back, from, target);
                flows.lock().unwrap().remove(&from);
            });
            up
        });
        sh.forward(&up, target, [from.ip(), target.ip()], &buf[..n]);
    }
}

/// Carries a flow's answers from the target back to its sender, until the
/// flow has been idle for a while.
fn answer(sh: &Shared, up: &UdpSocket, back: &Arc<UdpSocket>, to: SocketAddr, target: SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let mut last = Instant::now();
    while !sh.stop.load(Ordering::Relaxed) && last.elapsed() < IDLE {
        if let Ok(n) = up.recv(&mut buf) {
            last = Instant::now();
            sh.forward(back, to, [to.ip(), target.ip()], &buf[..n]);
        }
    }
}

/// Sends the delayed datagrams when their time comes.
fn deliver(sh: &Shared) {
    let mut q = sh.queue.lock().unwrap();
    while !sh.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        match q.peek().map(|d| d.at) {
            Some(at) if at <= now => {
                let d = q.pop().unwrap();
                drop(q);
                let _ = d.via.send_to(&d.bytes, d.to);
                q = sh.queue.lock().unwrap();
            }
            Some(at) => q = sh.wake.wait_timeout(q, at - now).unwrap().0,
            None => q = sh.wake.wait_timeout(q, POLL).unwrap().0,
        }
    }
}
