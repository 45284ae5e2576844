//! Bitcoin: mainnet, testnet (3), testnet4, signet and regtest.

use super::parse::ParseError;
use super::{BlockSource, Coin};
use bitcoin::hashes::{Hash, sha256d};
use bitcoin::{Address, BlockHash, Network, Script, ScriptBuf};
use std::str::FromStr;

/// Bitcoin on one network.
pub struct Bitcoin {
    net: &'static str,
    network: Network,
    /// Genesis hash in display (reversed) hex.
    genesis: &'static str,
    rpc_port: u16,
    electrum_ports: (u16, u16),
    datadir_subdir: &'static str,
    /// Seed peers, copied from ElectrumX's `electrumx/lib/coins.py`.
    peers: &'static [&'static str],
    blacklist_url: Option<&'static str>,
}

/// ElectrumX's `BitcoinMainnet.PEERS`.
const MAINNET_PEERS: &[&str] = &[
    "electrum.vom-stausee.de s t",
    "electrum.hsmiths.com s t",
    "helicarrier.bauerj.eu s t",
    "electrum.hodlister.co s",
    "electrum3.hodlister.co s",
    "btc.usebsv.com s50006",
    "fortress.qtornado.com s443 t",
    "ecdsa.net s110 t",
    "e2.keff.org s t",
    "currentlane.lovebitco.in s t",
    "electrum.jochen-hoenicke.de s50005 t50003",
    "vps5.hsmiths.com s",
    "electrum.emzy.de s",
    "electrum1.cipig.net t10000 s20000",
    "ulrichard.ch s",
    "hodlers.beer s",
    "5.9.83.108 s",
    "v7gtzf7nua6hdmb2wtqaqioqmesdb4xrlly4zwr7bvayxv2bpg665pqd.onion t",
    "qeqgdlw2ezf3uabook2ny3lztjxxzeyyoqw2k7cempzvqpknbmevhmyd.onion t",
    "kciybn4d4vuqvobdl2kdp3r2rudqbqvsymqwg4jomzft6m6gaibaf6yd.onion t",
    "explorerzydxu5ecjrkwceayqybizmpjjznk5izmitf2modhcusuqlid.onion t110",
    "v7o2hkemnt677k3jxcbosmjjxw3p5khjyu7jwv7orfy6rwtkizbshwqd.onion t57001",
    "nf365b5sbzk5j4jreimskffwnfpka7qtamyni5doohoom3g63o5tldad.onion t",
];

/// ElectrumX's `BitcoinTestnet3.PEERS`.
const TESTNET_PEERS: &[&str] = &[
    "testnet.qtornado.com s t",
    "blackie.c3-soft.com s57006 t57005",
    "electrum.blockstream.info t60001 s60002",
    "testnet.aranguren.org s t",
    "v22019051929289916.bestsrv.de s50002 t50001",
    "explorerzydxu5ecjrkwceayqybizmpjjznk5izmitf2modhcusuqlid.onion t143",
    "gsw6sn27quwf6u3swgra6o7lrp5qau6kt3ymuyoxgkth6wntzm2bjwyd.onion s51002 t51001",
    "3tc6nefii2fwoc66dqvrwcyj64dd3r35ihgxvp4u37itsopns5fjtead.onion s50002 t50001",
];

/// ElectrumX's `BitcoinTestnet4.PEERS`.
const TESTNET4_PEERS: &[&str] = &[
    "blackie.c3-soft.com s57010 t57009",
    "testnet4-electrumx.wakiyamap.dev",
    "13.212.194.61 s60002 t50001",
    "v22019051929289916.bestsrv.de s60002 t60001",
    "fulcrum.theuplink.net s60002",
    "134.199.227.217 s50002 t50001",
    "bitcoin.stagemole.eu s5010 t5000",
    "testnet4.qtornado.com s51012 t51011",
    "gsw6sn27quwf6u3swgra6o7lrp5qau6kt3ymuyoxgkth6wntzm2bjwyd.onion s52002 t52001",
];

impl Bitcoin {
    pub const MAINNET: Bitcoin = Bitcoin {
        net: "mainnet",
        network: Network::Bitcoin,
        genesis: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        rpc_port: 8332,
        electrum_ports: (50001, 50002),
        datadir_subdir: "",
        peers: MAINNET_PEERS,
        blacklist_url: Some("https://electrum.org/blacklist.json"),
    };
    pub const TESTNET: Bitcoin = Bitcoin {
        net: "testnet",
        network: Network::Testnet,
        genesis: "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        rpc_port: 18332,
        electrum_ports: (51001, 51002),
        datadir_subdir: "testnet3",
        peers: TESTNET_PEERS,
        blacklist_url: None,
    };
    pub const TESTNET4: Bitcoin = Bitcoin {
        net: "testnet4",
        network: Network::Testnet4,
        genesis: "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
        rpc_port: 48332,
        electrum_ports: (51001, 51002),
        datadir_subdir: "testnet4",
        peers: TESTNET4_PEERS,
        blacklist_url: None,
    };
    pub const SIGNET: Bitcoin = Bitcoin {
        net: "signet",
        network: Network::Signet,
        genesis: "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
        rpc_port: 38332,
        electrum_ports: (53001, 53002),
        datadir_subdir: "signet",
        peers: &[],
        blacklist_url: None,
    };
    pub const REGTEST: Bitcoin = Bitcoin {
        net: "regtest",
        network: Network::Regtest,
        genesis: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        rpc_port: 18443,
        electrum_ports: (51001, 51002),
        datadir_subdir: "regtest",
        peers: &[],
        blacklist_url: None,
    };

    /// rust-bitcoin's network, for address encoding.
    pub fn network(&self) -> Network {
        self.network
    }
}

impl Coin for Bitcoin {
    fn name(&self) -> &'static str {
        "Bitcoin"
    }
    fn net(&self) -> &'static str {
        self.net
    }
    fn genesis_hash(&self) -> BlockHash {
        // The constants above are valid hex: covered by `genesis_hashes_match_rust_bitcoin`.
        BlockHash::from_str(self.genesis).unwrap_or(BlockHash::all_zeros())
    }
    fn default_rpc_port(&self) -> u16 {
        self.rpc_port
    }
    fn default_electrum_ports(&self) -> (u16, u16) {
        self.electrum_ports
    }
    fn datadir_subdir(&self) -> &'static str {
        self.datadir_subdir
    }
    fn peers(&self) -> &'static [&'static str] {
        self.peers
    }
    fn blacklist_url(&self) -> Option<&'static str> {
        self.blacklist_url
    }
    fn header_len(&self, data: &[u8]) -> Result<usize, ParseError> {
        if data.len() < 80 {
            return Err(ParseError::Truncated(data.len()));
        }
        Ok(80)
    }
    fn header_hash(&self, header: &[u8]) -> BlockHash {
        BlockHash::from_raw_hash(sha256d::Hash::hash(header))
    }
    fn header_prev_hash(&self, header: &[u8]) -> BlockHash {
        let mut prev = [0u8; 32];
        if let Some(s) = header.get(4..36) {
            prev.copy_from_slice(s);
        }
        BlockHash::from_byte_array(prev)
    }
    fn taproot_height(&self) -> Option<u32> {
        // Bitcoin Core's chainparams: mainnet and testnet3 activated by signalling (their
        // MinBIP9WarningHeight is this height plus one 2016-block window); testnet4, signet and
        // regtest have it from the start.
        Some(match self.network {
            Network::Bitcoin => 709_632,
            Network::Testnet => 2_011_968,
            _ => 0,
        })
    }
    fn block_source(&self) -> BlockSource {
        BlockSource::RestWithSpentOutputs
    }
    fn address_to_script(&self, address: &str) -> Option<ScriptBuf> {
        let addr = Address::from_str(address).ok()?;
        let addr = addr.require_network(self.network).ok()?;
        Some(addr.script_pubkey())
    }
    fn script_to_address(&self, script: &Script) -> Option<String> {
        Address::from_script(script, self.network)
            .ok()
            .map(|a| a.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::COINS;

    #[test]
    fn genesis_hashes_match_rust_bitcoin() {
        for (coin, network) in [
            (&Bitcoin::MAINNET, Network::Bitcoin),
            (&Bitcoin::TESTNET, Network::Testnet),
            (&Bitcoin::TESTNET4, Network::Testnet4),
            (&Bitcoin::SIGNET, Network::Signet),
            (&Bitcoin::REGTEST, Network::Regtest),
        ] {
            let genesis = bitcoin::blockdata::constants::genesis_block(network);
            assert_eq!(coin.genesis_hash(), genesis.block_hash(), "{}", coin.net);
            let raw = bitcoin::consensus::serialize(&genesis);
            let parsed = coin.parse_block(&raw).unwrap();
            assert_eq!(parsed.hash, genesis.block_hash());
            assert_eq!(parsed.txs[0].txid, genesis.txdata[0].compute_txid());
        }
        assert_eq!(COINS.iter().filter(|c| c.name() == "Bitcoin").count(), 5);
    }

    #[test]
    fn seed_lists_are_electrumx_s() {
        assert_eq!(Bitcoin::MAINNET.peers().len(), 23);
        assert_eq!(Bitcoin::TESTNET.peers().len(), 8);
        assert_eq!(Bitcoin::TESTNET4.peers().len(), 9);
        assert!(Bitcoin::REGTEST.peers().is_empty() && Bitcoin::SIGNET.peers().is_empty());
        assert!(Bitcoin::MAINNET.blacklist_url().is_some());
        assert!(Bitcoin::TESTNET.blacklist_url().is_none());
    }

    #[test]
    fn addresses_are_checked_against_the_network() {
        let mainnet = &Bitcoin::MAINNET;
        let p2wpkh = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
        assert!(mainnet.address_to_script(p2wpkh).is_some());
        assert!(Bitcoin::TESTNET.address_to_script(p2wpkh).is_none());
        let script = mainnet
            .address_to_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
            .unwrap();
        assert_eq!(
            mainnet.script_to_address(&script).as_deref(),
            Some("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
        );
        assert!(mainnet.address_to_script("not an address").is_none());
    }
}
