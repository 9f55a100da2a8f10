# An echo server on 127.0.0.1:8007, run with: twistd3 --nodaemon --pidfile= -y echo.tac
from twisted.application import service, strports
from twisted.internet.protocol import Factory
from twisted.protocols.wire import Echo

application = service.Application("echo")
factory = Factory.forProtocol(Echo)
strports.service("tcp:8007:interface=127.0.0.1", factory).setServiceParent(application)
