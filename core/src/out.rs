//! The queue of effects produced while reducing inputs.

use std::collections::VecDeque;

use crate::config::{LogLevel, LogsConfig};
use crate::effect::{Effect, LogRecord};
use crate::event::Event;

/// Effects waiting for the driver, with the log filter applied on the way in
/// so filtered records cost nothing (the message closure is never called).
#[derive(Debug, Default)]
pub(crate) struct Out {
    queue: VecDeque<Effect>,
    level: Option<LogLevel>,
}

impl Out {
    pub(crate) fn configure(&mut self, logs: &LogsConfig) {
        self.level = Some(logs.log_level);
    }

    pub(crate) fn push(&mut self, effect: Effect) {
        self.queue.push_back(effect);
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.queue.push_back(Effect::Event(event));
    }

    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        level != LogLevel::Silent && self.level.is_some_and(|max| level <= max)
    }

    pub(crate) fn log<M: Into<std::borrow::Cow<'static, str>>>(
        &mut self,
        level: LogLevel,
        target: &'static str,
        message: impl FnOnce() -> M,
    ) {
        if self.enabled(level) {
            self.queue.push_back(Effect::Log(LogRecord {
                level,
                target: target.into(),
                message: message().into(),
            }));
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Effect> {
        self.queue.pop_front()
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.queue.truncate(len);
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}
