//! Element-wise kernels compiled for the widest vector instructions this CPU has.
//!
//! The crate is built for the baseline x86-64 target (SSE2), so a binary runs on any x86-64
//! machine. Hot element-wise kernels (the Winograd transforms) are written over fixed-size
//! arrays of [`LANES`] floats, which the compiler turns into vector code for whatever target
//! features are enabled where they are inlined; `multiversion!` inlines such a kernel into
//! copies compiled for AVX-512F and for AVX2+FMA and picks one at run time (the CPU check is
//! cached by std).

/// Floats processed together: one AVX-512 register.
pub const LANES: usize = 16;

/// Defines `pub fn $name(args)` that runs the `#[inline(always)]` function `$kernel` compiled
/// for AVX-512F, AVX2+FMA or the baseline, whichever is the widest this CPU supports.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident => $kernel:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $kernel($($arg),*)
        }
    };
}

pub(crate) use multiversion;
