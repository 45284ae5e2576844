//! A SOCKS5 proxy for the Tor tests (RFC 1928, CONNECT without authentication), standing in for
//! Tor: it maps `.onion` names to loopback ports, connects IPv4 targets directly, and records
//! every target it was asked for, by name, as the client sent it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Socks5 {
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Socks5 {
    /// Listens on 127.0.0.1; `onions` maps an onion host name to the loopback port behind it.
    pub fn start(onions: HashMap<String, u16>) -> Socks5 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let onions = Arc::new(onions);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, onions) = (log.clone(), onions.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &onions, &log);
                });
            }
        });
        Socks5 { port, asked }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every `host:port` a client asked to reach, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

fn serve(
    mut c: TcpStream,
    onions: &HashMap<String, u16>,
    asked: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(30)))?;
    // Greeting: version 5, its methods; we take "no authentication" (0) or refuse.
    let mut head = [0u8; 2];
    c.read_exact(&mut head)?;
    let mut methods = vec![0u8; head[1] as usize];
    c.read_exact(&mut methods)?;
    if head[0] != 5 || !methods.contains(&0) {
        return c.write_all(&[5, 0xff]);
    }
    c.write_all(&[5, 0])?;
    // Request: version, CONNECT (1), reserved, address type, address, port.
    let mut req = [0u8; 4];
    c.read_exact(&mut req)?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a)?;
            Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            c.read_exact(&mut len)?;
            let mut name = vec![0u8; len[0] as usize];
            c.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return c.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    let mut port = [0u8; 2];
    c.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    asked.lock().unwrap().push(format!("{host}:{port}"));
    let target: Option<SocketAddr> = if host.ends_with(".onion") {
        onions
            .get(&host)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
    } else {
        host.parse::<Ipv4Addr>()
            .ok()
            .map(|ip| SocketAddr::from((ip, port)))
    };
    let Some(upstream) = target.and_then(|t| TcpStream::connect(t).ok()) else {
        // 4: host unreachable.
        return c.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    c.set_read_timeout(None)?;
    let (mut c2, mut up2) = (c.try_clone()?, upstream.try_clone()?);
    let (mut up, mut c) = (upstream, c);
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut c, &mut up);
    let _ = up.shutdown(Shutdown::Write);
    let _ = t.join();
    Ok(())
}
