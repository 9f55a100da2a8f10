# An echo server on a privileged port (707): twistd binds it as root before it drops
# to the service user.  Run with: twistd3 --nodaemon --pidfile= -y privileged.tac
from twisted.application import service, strports
from twisted.internet.protocol import Factory
from twisted.protocols.wire import Echo

application = service.Application("privileged")
factory = Factory.forProtocol(Echo)
strports.service("tcp:707:interface=127.0.0.1", factory).setServiceParent(application)
