"""Fingerprints of the lab's sites, to prove a run changed nothing.

Read straight from the simulators (pyvmomi) and PostgreSQL (psycopg), not
through the collection's own code, so a bug there cannot hide a change.
"""

from __future__ import annotations

import ssl

import psycopg
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim


def vsphere_fingerprint(vcenter):
    """Every VM (power, config version, NIC backings, guest IPs), host, datastore and network of a site."""
    si = SmartConnect(host=vcenter["hostname"], port=int(vcenter["port"]), user=vcenter["username"],
                      pwd=vcenter["password"], sslContext=ssl._create_unverified_context())
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.ManagedEntity], True)
        try:
            entities = list(view.view)
        finally:
            view.Destroy()
        out = {}
        for entity in entities:
            key = "%s:%s" % (type(entity).__name__, entity.name)
            if isinstance(entity, vim.VirtualMachine):
                out[key] = {
                    "power": str(entity.runtime.powerState),
                    "change_version": entity.config.changeVersion,
                    "nics": sorted(
                        (dev.macAddress, repr(dev.backing.port.portgroupKey) if hasattr(dev.backing, "port")
                         else getattr(dev.backing, "deviceName", None))
                        for dev in entity.config.hardware.device if isinstance(dev, vim.vm.device.VirtualEthernetCard)),
                    "ips": sorted(ip for nic in entity.guest.net or [] for ip in nic.ipAddress or []),
                    "snapshots": bool(entity.snapshot),
                }
            elif isinstance(entity, vim.HostSystem):
                out[key] = {"state": str(entity.runtime.connectionState),
                            "datastores": sorted(d.name for d in entity.datastore)}
            elif isinstance(entity, vim.Datastore):
                out[key] = {"accessible": entity.summary.accessible}
            else:
                out[key] = {}
        return out
    finally:
        Disconnect(si)


def database_fingerprint(pg):
    """A digest of every user table's rows, and the server's role."""
    with psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                         dbname=pg["database"], autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            " ORDER BY 1")]
        digest = {}
        for table in tables:
            digest[table] = conn.execute(
                "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
                " FROM %s AS t" % table).fetchone()  # table names come from the catalog above
        digest["in_recovery"] = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        return digest


def lab_fingerprint(lab):
    return {
        "primary": vsphere_fingerprint(lab["sites"]["primary"]["vcenter"]),
        "recovery": vsphere_fingerprint(lab["sites"]["recovery"]["vcenter"]),
        "database": database_fingerprint(lab["postgres"]["primary"]),
    }
