# The Tornado example from the tutorials (../shared/seeds/000), verbatim but for the port
# (argv[1]) and the address (loopback only), so tests can run it beside hello-server.
import sys

import tornado.ioloop
import tornado.web


class ApplicationHandler(tornado.web.RequestHandler):

    def get(self):
        self.message = message = """<html>
<head>
<title>Tornado Framework</title>

</head>
<body>
<h2>Welcome to the Tornado framework</h2>
</body>
</html>"""
        self.write(message)


if __name__ == "__main__":
    application = tornado.web.Application([
        (r"/", ApplicationHandler),
    ])
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5001
    application.listen(port, address="127.0.0.1")
    print("ready", flush=True)
    tornado.ioloop.IOLoop.instance().start()
