"""Fingerprints of the lab's sites, to prove a run changed nothing.

Read straight from the simulators (pyvmomi) and PostgreSQL (psycopg), not
through the collection's own code, so a bug there cannot hide a change.
"""

from __future__ import annotations

import ssl

import psycopg
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl


_PROPERTIES = {
    vim.VirtualMachine: ["name", "runtime.powerState", "config.changeVersion", "config.hardware.device",
                         "guest.net", "snapshot"],
    vim.HostSystem: ["name", "runtime.connectionState", "datastore"],
    vim.Datastore: ["name", "summary.accessible"],
    vim.Network: ["name"],
}


def _retrieve(content, obj_type, paths):
    """One consistent read of ``paths`` for every object of ``obj_type`` (one RetrievePropertiesEx)."""
    view = content.viewManager.CreateContainerView(content.rootFolder, [obj_type], True)
    try:
        traversal = vmodl.query.PropertyCollector.TraversalSpec(
            name="view", path="view", skip=False, type=vim.view.ContainerView)
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=obj_type, pathSet=paths)])
        result = content.propertyCollector.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
        objects = list(result.objects) if result else []
        while result and result.token:
            result = content.propertyCollector.ContinueRetrievePropertiesEx(result.token)
            objects += list(result.objects)
        return [{prop.name: prop.val for prop in obj.propSet} for obj in objects]
    finally:
        view.Destroy()


def _nic(dev):
    port = getattr(dev.backing, "port", None)
    return (dev.macAddress, port.portgroupKey if port else getattr(dev.backing, "deviceName", None))


def vsphere_fingerprint(vcenter):
    """Every VM (power, config version, NIC backings, guest IPs, snapshots), host, datastore and network."""
    si = SmartConnect(host=vcenter["hostname"], port=int(vcenter["port"]), user=vcenter["username"],
                      pwd=vcenter["password"], sslContext=ssl._create_unverified_context())
    try:
        content = si.RetrieveContent()
        out = {}
        for row in _retrieve(content, vim.VirtualMachine, _PROPERTIES[vim.VirtualMachine]):
            out["vm:" + row["name"]] = {
                "power": str(row.get("runtime.powerState")),
                "change_version": row.get("config.changeVersion"),
                "nics": sorted(_nic(d) for d in row.get("config.hardware.device", [])
                               if isinstance(d, vim.vm.device.VirtualEthernetCard)),
                "ips": sorted(ip for nic in row.get("guest.net", []) for ip in nic.ipAddress or []),
                "snapshots": row.get("snapshot") is not None,
            }
        for row in _retrieve(content, vim.HostSystem, _PROPERTIES[vim.HostSystem]):
            out["host:" + row["name"]] = {"state": str(row.get("runtime.connectionState")),
                                          "datastores": sorted(d._moId for d in row.get("datastore", []))}
        for row in _retrieve(content, vim.Datastore, _PROPERTIES[vim.Datastore]):
            out["datastore:" + row["name"]] = {"accessible": row.get("summary.accessible")}
        for row in _retrieve(content, vim.Network, _PROPERTIES[vim.Network]):
            out["network:" + row["name"]] = {}
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
