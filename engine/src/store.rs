//! A state document bound to the backend it came from, with compare-and-swap saves.

use dtm_backends::{Backend, BackendError, LockInfo, Version};

use crate::state::{State, StateError};

/// Errors from loading or saving state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The stored document is unusable.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The state of one config, as read from its backend, plus what is needed to write it back.
#[derive(Debug)]
pub struct StateStore {
    backend: Box<dyn Backend>,
    version: Option<Version>,
    /// The document; mutate it, then [`StateStore::save`].
    pub state: State,
    /// Whether the document exists in the backend.
    pub exists: bool,
}

impl StateStore {
    /// Reads the state (an empty one if none was ever written).
    pub fn open(backend: Box<dyn Backend>) -> Result<Self, StoreError> {
        let location = backend.location();
        match backend.read()? {
            Some(snap) => Ok(Self {
                state: State::from_bytes(&snap.bytes, &location)?,
                version: Some(snap.version),
                backend,
                exists: true,
            }),
            None => Ok(Self {
                backend,
                version: None,
                state: State::new(),
                exists: false,
            }),
        }
    }

    /// Re-reads the document (after taking the lock, to see the latest version).
    pub fn reload(&mut self) -> Result<(), StoreError> {
        let location = self.backend.location();
        match self.backend.read()? {
            Some(snap) => {
                self.state = State::from_bytes(&snap.bytes, &location)?;
                self.version = Some(snap.version);
                self.exists = true;
            }
            None => {
                self.version = None;
                self.exists = false;
            }
        }
        Ok(())
    }

    /// Writes the document back, refusing to overwrite a version someone else wrote meanwhile.
    pub fn save(&mut self) -> Result<(), StoreError> {
        self.state.serial += 1;
        self.state.dtm_version = env!("CARGO_PKG_VERSION").to_string();
        let bytes = self.state.to_bytes();
        match self.backend.write(&bytes, self.version.as_ref()) {
            Ok(v) => {
                self.version = Some(v);
                self.exists = true;
                Ok(())
            }
            Err(e) => {
                self.state.serial -= 1;
                Err(e.into())
            }
        }
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Where the state lives.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Takes the backend's lock, waiting up to `wait` (polling) if someone else holds it.
    pub fn lock(&self, info: &LockInfo, wait: std::time::Duration) -> Result<(), BackendError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match self.backend.lock(info) {
                Err(BackendError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }
}
