//! `dipnuc`: the command-line tool an engineer runs next to the device.
fn main() -> anyhow::Result<()> {
    Ok(())
}
