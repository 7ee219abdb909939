"""Fakes of the pyVmomi objects the vSphere client layer talks to (no server needed)."""

from __future__ import annotations

from types import SimpleNamespace

from pyVmomi import vim


class FakeView(vim.view.ContainerView):
    """A ContainerView (pyVmomi type-checks ObjectSpec.obj) whose DestroyView is local."""

    def __init__(self, log):
        super().__init__("session[fake]view-%d" % len(log))
        self.log = log
        self.destroyed = False

    def DestroyView(self):
        self.log.append("DestroyView")
        self.destroyed = True


class FakeViewManager:
    def __init__(self, log):
        self.log = log
        self.views = []

    def CreateContainerView(self, container, types, recursive):
        self.log.append("CreateContainerView")
        view = FakeView(self.log)
        view.created_with = (container, types, recursive)
        self.views.append(view)
        return view


class FakeSession:
    """Duck-typed Session: ``content`` and ``call``; counts calls like the real one."""

    endpoint = "vc.example:443"

    def __init__(self, property_collector):
        self.log = []
        self.view_manager = FakeViewManager(self.log)
        property_collector.log = self.log
        self.content = SimpleNamespace(rootFolder="root-folder", viewManager=self.view_manager,
                                       propertyCollector=property_collector)

    @property
    def calls(self):
        return len(self.log)

    def call(self, method, *args, **kwargs):
        return method(*args, **kwargs)


# -- PropertyCollector updates and tasks (tasks.wait_for_tasks tests) --------------------

def change(name, val, op="assign"):
    return SimpleNamespace(name=name, op=op, val=val)


def obj_update(task, *changes, kind="modify", missing=()):
    return SimpleNamespace(obj=task, kind=kind, changeSet=list(changes), missingSet=list(missing))


def update_set(version, *object_updates):
    return SimpleNamespace(version=version, filterSet=[SimpleNamespace(objectSet=list(object_updates))])


def fault(message, cls=vim.fault.InvalidPowerState):
    return SimpleNamespace(localizedMessage=message, fault=cls())


class Clock:
    """A monotonic clock that advances by each WaitForUpdatesEx's maxWaitSeconds when it returns None."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class ScriptedCollector:
    """CreatePropertyCollector -> itself; WaitForUpdatesEx replays ``script`` (None = no change)."""

    def __init__(self, script, clock=None):
        self.script = list(script)
        self.clock = clock
        self.filters = []
        self.waits = []
        self.destroyed = False
        self.log = None

    def CreatePropertyCollector(self):
        self.log.append("CreatePropertyCollector")
        return self

    def CreateFilter(self, spec, partialUpdates):
        self.log.append("CreateFilter")
        self.filters.append(spec)

    def WaitForUpdatesEx(self, version, options):
        self.log.append("WaitForUpdatesEx")
        self.waits.append((version, options.maxWaitSeconds))
        step = self.script.pop(0) if self.script else None
        if step is None and self.clock is not None:
            self.clock.now += options.maxWaitSeconds
        return step

    def DestroyPropertyCollector(self):
        self.log.append("DestroyPropertyCollector")
        self.destroyed = True


def make_tasks(count):
    return [vim.Task("task-%d" % i) for i in range(1, count + 1)]
