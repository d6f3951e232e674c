//! The in-memory harness.

use kandy_core::call::fake::FakeEngine;
use kandy_core::call::{Call, CallCommand, CallId};
use kandy_core::{BasicError, Command, Credentials, ErrorCode, Event};
use kandy_gateway::Users;
use kandy_transport_mock::{ClientId, Network};

use crate::{gateway_config, ClientNo, Harness, Hook, Tweak, Until, WAIT};

/// Core clients and the gateway model on virtual time.
#[derive(Debug)]
pub struct Memory {
    net: Network,
    clients: Vec<ClientId>,
}

impl Memory {
    /// A fresh network with the built-in users.
    pub fn new() -> Self {
        Memory {
            net: Network::new(gateway_config(), Users::builtin(), 1),
            clients: Vec::new(),
        }
    }

    fn outcome(
        &mut self,
        c: ClientId,
        from: usize,
        ok: impl Fn(&Event) -> bool,
    ) -> Result<(), BasicError> {
        let wait = WAIT.as_millis() as u64;
        let found = self.net.run_until(wait, |n| {
            n.events(c)[from..]
                .iter()
                .any(|e| ok(e) || matches!(e, Event::AuthError { .. }))
        });
        if !found {
            return Err(BasicError::new(ErrorCode::NoCode, "no outcome in time"));
        }
        let events = &self.net.events(c)[from..];
        match events
            .iter()
            .find(|e| ok(e) || matches!(e, Event::AuthError { .. }))
        {
            Some(Event::AuthError { error }) => Err(error.clone()),
            _ => Ok(()),
        }
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

fn refused(e: kandy_core::Error) -> BasicError {
    BasicError::new(ErrorCode::NoCode, e.to_string())
}

#[async_trait::async_trait]
impl Harness for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn add_client(&mut self, tweak: &Tweak) -> ClientNo {
        let mut config = Network::client_config();
        tweak(&mut config);
        let id = self
            .net
            .add_client_with(config, self.clients.len() as u64 + 1);
        self.clients.push(id);
        self.clients.len() - 1
    }

    async fn connect(
        &mut self,
        client: ClientNo,
        credentials: Credentials,
    ) -> Result<(), BasicError> {
        let c = self.clients[client];
        let from = self.net.events(c).len();
        self.net
            .command(c, Command::Connect(credentials))
            .map_err(refused)?;
        self.outcome(c, from, |e| {
            matches!(
                e,
                Event::AuthChange {
                    status: kandy_core::session::ConnectionStatus::Connected,
                    ..
                }
            )
        })
    }

    async fn disconnect(&mut self, client: ClientNo) -> Result<(), BasicError> {
        let c = self.clients[client];
        let from = self.net.events(c).len();
        self.net.command(c, Command::Disconnect).map_err(refused)?;
        self.outcome(c, from, |e| {
            matches!(
                e,
                Event::AuthChange {
                    status: kandy_core::session::ConnectionStatus::Disconnected,
                    ..
                }
            )
        })
    }

    async fn wait_for(&mut self, client: ClientNo, done: &Until) -> bool {
        let c = self.clients[client];
        self.net
            .run_until(WAIT.as_millis() as u64, |n| done(n.events(c)))
    }

    fn events(&self, client: ClientNo) -> Vec<Event> {
        self.net.events(self.clients[client]).to_vec()
    }

    async fn with_gateway(&mut self, f: Hook) {
        self.net.with_gateway(f);
    }

    async fn call(
        &mut self,
        client: ClientNo,
        command: CallCommand,
    ) -> Result<Option<CallId>, kandy_core::Error> {
        let made = match &command {
            CallCommand::Make { call_id, .. } => Some(call_id.clone()),
            _ => None,
        };
        self.net
            .command(self.clients[client], Command::Call(Box::new(command)))?;
        Ok(made)
    }

    async fn call_info(&mut self, client: ClientNo, id: &CallId) -> Option<Call> {
        self.net.client(self.clients[client]).call(id).cloned()
    }

    fn engine(&self, client: ClientNo) -> FakeEngine {
        self.net.engine(self.clients[client]).clone()
    }

    async fn finish(&mut self) {}
}
