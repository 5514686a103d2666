//! Serial ports on this machine, with USB ids where the port is a USB device (`dipnuc ports`).

use serde::Serialize;
use serialport::SerialPortType;

/// One serial port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortEntry {
    /// Device path (`/dev/ttyUSB0`).
    pub name: String,
    /// `usb`, `pci`, `bluetooth` or `unknown`.
    pub kind: &'static str,
    /// USB vendor id.
    pub vid: Option<u16>,
    /// USB product id.
    pub pid: Option<u16>,
    /// USB serial number.
    pub serial_number: Option<String>,
    /// USB manufacturer string.
    pub manufacturer: Option<String>,
    /// USB product string.
    pub product: Option<String>,
}

impl PortEntry {
    /// `VID:PID` in hex, when a USB port.
    pub fn usb_id(&self) -> Option<String> {
        Some(format!("{:04x}:{:04x}", self.vid?, self.pid?))
    }
}

/// Lists the serial ports the operating system knows, sorted by name.
pub fn list() -> Result<Vec<PortEntry>, serialport::Error> {
    let mut out: Vec<PortEntry> = serialport::available_ports()?
        .into_iter()
        .map(|p| {
            let mut e = PortEntry {
                name: p.port_name,
                kind: "unknown",
                vid: None,
                pid: None,
                serial_number: None,
                manufacturer: None,
                product: None,
            };
            match p.port_type {
                SerialPortType::UsbPort(u) => {
                    e.kind = "usb";
                    e.vid = Some(u.vid);
                    e.pid = Some(u.pid);
                    e.serial_number = u.serial_number;
                    e.manufacturer = u.manufacturer;
                    e.product = u.product;
                }
                SerialPortType::PciPort => e.kind = "pci",
                SerialPortType::BluetoothPort => e.kind = "bluetooth",
                SerialPortType::Unknown => {}
            }
            e
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
