//! A tiny calculator with a bug for ossa's agent tests.

/// Adds two numbers.
pub fn add(a: i32, b: i32) -> i32 {
    a - b
}

/// Multiplies two numbers.
pub fn mul(a: i32, b: i32) -> i32 {
    a * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(2, 3), 5);
    }

    #[test]
    fn multiplies() {
        assert_eq!(mul(2, 3), 6);
    }
}
