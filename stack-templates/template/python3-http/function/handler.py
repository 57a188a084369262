def handle(event, context):
    return {
        "statusCode": 200,
        "body": {"body": event.body.decode("utf-8", "replace"), "content-type": event.headers.get("content-type")},
    }
