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
