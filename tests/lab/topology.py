"""The lab's VM topology: a pure function of the number of VMs.

``topology(vm_count)`` returns the VMs of the primary site, in recovery order
(data tier first, then app, then web), each as a dict::

    {"name": "db01", "tier": "data", "ip": "10.10.1.10",
     "portgroup": "Prod-Net", "datastore": "Prod-DS-01"}

Tiers are in the ratio data:app:web = 1:3:2 (at least 2 data VMs, at least one
app and one web VM). Names are ``db``/``app``/``web`` plus a zero-padded number;
the width is the same for every tier: max(2, digits of the largest tier).
IPs are sequential in the primary subnet 10.10.0.0/20 starting at 10.10.1.10,
in the order above. Nothing here touches the network or the file system, so
the plan generator, the seeder and the tests all agree by construction.
"""

import ipaddress

PRIMARY_SUBNET = "10.10.0.0/20"
RECOVERY_SUBNET = "10.20.0.0/20"
RECOVERY_GATEWAY = "10.20.0.1"
DNS_SERVERS = ["10.20.0.53"]
FIRST_IP = "10.10.1.10"
PORTGROUP = "Prod-Net"
DATASTORE = "Prod-DS-01"

TIERS = (("data", "db"), ("app", "app"), ("web", "web"))
MIN_VMS = 4


def max_vms():
    """Largest vm_count whose IPs all fit in the primary subnet (broadcast excluded)."""
    net = ipaddress.ip_network(PRIMARY_SUBNET)
    return int(net.broadcast_address) - int(ipaddress.ip_address(FIRST_IP))


def tier_sizes(vm_count):
    """(data, app, web) counts for vm_count VMs, ratio 1:3:2, data >= 2, web >= 1, app >= 1."""
    if not isinstance(vm_count, int) or isinstance(vm_count, bool):
        raise TypeError("vm_count must be an int")
    if vm_count < MIN_VMS or vm_count > max_vms():
        raise ValueError("vm_count must be between %d and %d, got %d" % (MIN_VMS, max_vms(), vm_count))
    data = max(2, int(vm_count / 6.0 + 0.5))
    web = max(1, int(vm_count / 3.0 + 0.5))
    app = vm_count - data - web
    return data, app, web


def topology(vm_count):
    """The list of VM dicts for vm_count VMs (see the module docstring)."""
    sizes = tier_sizes(vm_count)
    width = max(2, len(str(max(sizes))))
    ip = int(ipaddress.ip_address(FIRST_IP))
    vms = []
    for (tier, prefix), size in zip(TIERS, sizes):
        for number in range(1, size + 1):
            vms.append({
                "name": "%s%0*d" % (prefix, width, number),
                "tier": tier,
                "ip": str(ipaddress.ip_address(ip)),
                "portgroup": PORTGROUP,
                "datastore": DATASTORE,
            })
            ip += 1
    return vms


def tiers(vm_count):
    """Ordered [(tier name, [vm names])] for vm_count VMs."""
    names = {tier: [] for tier, _share in TIERS}
    for vm in topology(vm_count):
        names[vm["tier"]].append(vm["name"])
    return [(tier, names[tier]) for tier, _share in TIERS]
