//! Resource limits for reading hostile input, checked before anything is allocated.
//!
//! Every length, count and dimension from the input is compared against these limits before the
//! sanitiser allocates memory for it. The defaults admit a 40 ft dual-energy scan at 1.25 mm per
//! pixel (about 10,000 x 3,200 pixels, three channels) with room to spare, and refuse the
//! dimension bombs, deflate bombs and deep nesting that a hostile sender would try.

use serde::{Deserialize, Serialize};

use crate::refusal::{Refusal, Rule};

const MIB: u64 = 1024 * 1024;

/// Limits applied by the structure check, the inflater and the pixel decoders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted input file, in bytes.
    pub max_file_bytes: u64,
    /// Largest data set a deflate stream may expand to, in bytes. Checked while inflating: the
    /// stream is refused as soon as it passes this, never inflated fully.
    pub max_inflated_bytes: u64,
    /// Largest accepted number of rows.
    pub max_rows: u32,
    /// Largest accepted number of columns.
    pub max_columns: u32,
    /// Largest accepted number of frames (CT slices, or energy channels of a DX).
    pub max_frames: u32,
    /// Largest accepted rows x columns x frames.
    pub max_pixels: u64,
    /// Deepest accepted sequence nesting (the DICOS samples need 4).
    pub max_depth: u32,
    /// Most data elements, counted at every nesting level.
    pub max_elements: u32,
    /// Most encapsulated pixel data fragments.
    pub max_fragments: u32,
    /// Most bytes the sanitiser may hold for one input beyond the input itself: inflated data
    /// set, decoded pixels and one frame of decoder scratch.
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1024 * MIB,
            max_inflated_bytes: 512 * MIB,
            max_rows: 32_768,
            max_columns: 32_768,
            max_frames: 4_096,
            max_pixels: 512 * MIB,
            max_depth: 12,
            max_elements: 100_000,
            max_fragments: 65_536,
            max_memory_bytes: 2048 * MIB,
        }
    }
}

/// The deepest nesting a configuration may allow: the walker recurses once per level, and this
/// keeps its stack use small on any thread.
pub const MAX_CONFIGURABLE_DEPTH: u32 = 64;

impl Limits {
    /// Refuses an input of `len` bytes when it is larger than [`Limits::max_file_bytes`].
    pub fn check_file_size(&self, len: u64) -> Result<(), Refusal> {
        if len > self.max_file_bytes {
            return Err(Refusal::sender(
                Rule::FileTooLarge,
                crate::refusal::Location::default(),
                format!(
                    "{len} bytes exceeds the configured maximum of {} bytes",
                    self.max_file_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Checks that the limits are usable. The sanitiser calls this before reading input.
    pub fn validate(&self) -> Result<(), Refusal> {
        let fail = |detail: String| Err(Refusal::configuration(Rule::InvalidLimits, detail));
        if self.max_depth > MAX_CONFIGURABLE_DEPTH {
            return fail(format!(
                "max_depth {} exceeds the largest supported nesting of {MAX_CONFIGURABLE_DEPTH}",
                self.max_depth
            ));
        }
        if self.max_file_bytes < 132 {
            return fail(format!(
                "max_file_bytes {} is smaller than a DICOM preamble and prefix (132 bytes)",
                self.max_file_bytes
            ));
        }
        if self.max_rows == 0
            || self.max_columns == 0
            || self.max_frames == 0
            || self.max_pixels == 0
        {
            return fail("image dimension limits must be at least 1".to_string());
        }
        if self.max_elements == 0 {
            return fail("max_elements must be at least 1".to_string());
        }
        if usize::try_from(self.max_memory_bytes).is_err()
            || usize::try_from(self.max_inflated_bytes).is_err()
            || usize::try_from(self.max_file_bytes).is_err()
        {
            return fail("byte limits exceed this platform's address space".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Limits::default().validate().unwrap();
    }

    #[test]
    fn absurd_depth_is_a_configuration_fault() {
        let limits = Limits {
            max_depth: 10_000,
            ..Limits::default()
        };
        let err = limits.validate().unwrap_err();
        assert_eq!(err.rule, Rule::InvalidLimits);
        assert_eq!(err.fault, crate::refusal::Fault::Configuration);
    }
}
