//! What scanners are attached: serial ports (with USB vendor/product ids read from sysfs) and HID devices
//! (hidraw nodes and keyboard event devices), for `stoolbank scanners list`.

use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// serial | hid-pos (a hidraw node whose descriptor has the Bar Code Scanner page) | hidraw | keyboard
    pub kind: &'static str,
    pub path: String,
    pub name: Option<String>,
    pub usb_vendor: Option<String>,
    pub usb_product: Option<String>,
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Walks up from a sysfs device to the USB device that holds `idVendor`/`idProduct`.
fn usb_ids(device: &Path) -> (Option<String>, Option<String>, Option<String>) {
    let mut dir = std::fs::canonicalize(device).ok();
    while let Some(d) = dir {
        if let Some(v) = read_trim(&d.join("idVendor")) {
            return (Some(v), read_trim(&d.join("idProduct")), read_trim(&d.join("product")));
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    (None, None, None)
}

pub fn serial_ports() -> Vec<Found> {
    let mut out = Vec::new();
    for p in serialport::available_ports().unwrap_or_default() {
        let name = Path::new(&p.port_name).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let (vendor, product, label) = usb_ids(&PathBuf::from("/sys/class/tty").join(&name).join("device"));
        out.push(Found { kind: "serial", path: p.port_name, name: label, usb_vendor: vendor, usb_product: product });
    }
    out
}

pub fn hid_devices() -> Vec<Found> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/class/hidraw") {
        for e in entries.flatten() {
            let uevent = read_trim(&e.path().join("device/uevent")).unwrap_or_default();
            let field = |k: &str| uevent.lines().find_map(|l| l.strip_prefix(k)).map(str::to_string);
            // HID_ID=0003:00000C2E:00000B61 → bus, vendor, product
            let ids: Vec<String> = field("HID_ID=")
                .map(|s| s.split(':').map(|x| x.trim_start_matches('0').to_lowercase()).collect())
                .unwrap_or_default();
            let pos = std::fs::read(e.path().join("device/report_descriptor"))
                .is_ok_and(|d| crate::hidpos::is_hid_pos_scanner(&d));
            out.push(Found {
                kind: if pos { "hid-pos" } else { "hidraw" },
                path: format!("/dev/{}", e.file_name().to_string_lossy()),
                name: field("HID_NAME="),
                usb_vendor: ids.get(1).map(|v| format!("{v:0>4}")),
                usb_product: ids.get(2).map(|v| format!("{v:0>4}")),
            });
        }
    }
    if let Ok(entries) = std::fs::read_dir("/dev/input/by-id") {
        for e in entries.flatten() {
            let link = e.file_name().to_string_lossy().to_string();
            if link.ends_with("-event-kbd") {
                let target = std::fs::canonicalize(e.path()).unwrap_or_else(|_| e.path());
                let event = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let (vendor, product, _) = usb_ids(&PathBuf::from("/sys/class/input").join(&event).join("device"));
                out.push(Found {
                    kind: "keyboard",
                    path: e.path().to_string_lossy().to_string(),
                    name: Some(link),
                    usb_vendor: vendor,
                    usb_product: product,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
